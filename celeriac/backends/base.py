"""The result-store seam, and ``KeyValueBackend`` that derives everything from six primitives.

Stores are synchronous and thread-safe. A key-value store only implements ``get/mget/set/
delete``; record layout, the replace rule (``may_replace``: a SUCCESS is never overwritten,
wire-protocol.md §7.15, and a RETRY never hides a finished state), batching and waiting are
written once here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from celeriac import states
from celeriac.backends.record_codec import RecordCodec
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta, decode_record

TASK_KEY_PREFIX = "celery-task-meta-"
GROUP_KEY_PREFIX = "celery-taskset-meta-"


class ResultBackend(Protocol):
    """Where task outcomes are written by workers and read by clients."""

    persistent: bool

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Record ``metas`` in order, each only where ``may_replace`` allows it."""

    def get(self, task_id: str) -> ResultMeta:
        """The record of ``task_id``; PENDING when none exists."""

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        """Records of ``task_ids``, in order, in as few round trips as the store allows."""

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Block until ``task_id`` is ready; raise ``TimeoutError`` after ``timeout`` s."""

    def forget(self, task_id: str) -> None:
        """Delete the record of ``task_id``."""

    def close(self) -> None:
        """Release connections."""


class KeyValueBackend:
    """A result store built from key-value primitives; subclasses implement ``_kv_*``."""

    persistent = True

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self.codec = RecordCodec(self.options.serializer, self.options.compression,
                                 self.options.accept)

    # -- primitives a subclass provides -------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._kv_get(key) for key in keys]

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        raise NotImplementedError

    def _kv_delete(self, key: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""

    # -- the ResultBackend interface ---------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        if not metas:
            return
        keys = [TASK_KEY_PREFIX + meta.task_id for meta in metas]
        existing = dict(zip(keys, self._kv_mget(keys), strict=True))
        items = self.replacing(keys, metas, existing)
        if items:
            self._kv_set_many(items, self.options.expires)

    def get(self, task_id: str) -> ResultMeta:
        return self.decode(task_id, self._kv_get(TASK_KEY_PREFIX + task_id))

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        raw = self._kv_mget([TASK_KEY_PREFIX + task_id for task_id in task_ids])
        return [self.decode(tid, data) for tid, data in zip(task_ids, raw, strict=True)]

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Poll with backoff from 5 ms up to ``interval``: cheap for quick tasks, calm for slow."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            meta = self.get(task_id)
            if meta.ready:
                return meta
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}.")
                delay = min(delay, remaining)
            time.sleep(delay)
            delay = min(delay * 2, interval)

    def forget(self, task_id: str) -> None:
        self._kv_delete(TASK_KEY_PREFIX + task_id)

    # -- encoding ------------------------------------------------------------------------
    def encode(self, meta: ResultMeta) -> bytes:
        return self.codec.dumps(meta.to_dict())

    def decode(self, task_id: str, data: bytes | None) -> ResultMeta:
        if data is None:
            return ResultMeta(task_id)
        return decode_record(data, task_id, self.codec.loads)

    def replacing(self, keys: Sequence[str], metas: Sequence[ResultMeta],
                  existing: Mapping[str, bytes | None]) -> list[tuple[str, bytes]]:
        """The encoded records of ``metas`` that ``may_replace`` the ``existing`` ones.

        Judged in order, a record written earlier in the same batch counting as stored: one
        batch can hold two attempts of a retried task (the new attempt's SUCCESS, then the old
        attempt's RETRY), and judging both against the record from before the batch let the
        RETRY land last, so the task looked unfinished forever.
        """
        written: dict[str, str | None] = {}
        items: list[tuple[str, bytes]] = []
        for key, meta in zip(keys, metas, strict=True):
            old = written[key] if key in written else self.status_of(existing.get(key))
            if old is None or may_replace(old, meta.status):
                items.append((key, self.encode(meta)))
                written[key] = meta.status
            else:
                written[key] = old
        return items

    def status_of(self, raw: bytes | None) -> str | None:
        """The status of a stored record, whichever serializer wrote it (None: none, or
        unreadable)."""
        if raw is None:
            return None
        if raw[:1] == b"{":
            return stored_status(raw)
        try:
            status = self.codec.loads(raw).get("status")
        except Exception:  # undecodable or not a mapping: no state we must keep
            return None
        return status if isinstance(status, str) else None

    def holds_success(self, raw: bytes | None) -> bool:
        """Whether a stored record is a SUCCESS, whichever serializer wrote it."""
        return self.status_of(raw) == states.SUCCESS


#: How every JSON record Celery or celeriac writes begins (status first, Python's separators).
_STATUS_HEAD = b'{"status": "'


def stored_status(raw: bytes | None) -> str | None:
    """The ``status`` of a stored record, decided on the parsed value, not on a substring.

    The status is read straight from the record's start when it has the usual layout and the
    value holds no escape (exact: a JSON string ends at its first unescaped quote), so a
    large result is not decoded; anything else is parsed in full. A record whose *result*
    merely contains the text "SUCCESS" is never mistaken for a success.
    """
    if raw is None:
        return None
    start = len(_STATUS_HEAD)
    if raw.startswith(_STATUS_HEAD):
        end = raw.find(b'"', start)
        if end >= 0 and b"\\" not in raw[start:end]:
            return raw[start:end].decode("utf-8", "replace")
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    status = record.get("status") if isinstance(record, dict) else None
    return status if isinstance(status, str) else None


def may_replace(old_status: str | None, new_status: str) -> bool:
    """Whether a record in ``new_status`` may replace a stored one in ``old_status``.

    A SUCCESS is never replaced (wire-protocol.md §7.15). A RETRY never replaces a finished
    state (SUCCESS, FAILURE, REVOKED): a RETRY says "a newer attempt was sent", so a finished
    record can only be that newer attempt's (or a revocation's). The two race: with
    ``retry(countdown=0)`` the new attempt can run and be stored before the old attempt's
    RETRY, which would then hide the outcome and leave the caller waiting forever.
    """
    if old_status == states.SUCCESS:
        return False
    return not (new_status == states.RETRY and old_status in states.READY_STATES)


def is_success(raw: bytes | None) -> bool:
    """Whether a stored record is a SUCCESS, which nothing may overwrite (§7.15)."""
    return stored_status(raw) == states.SUCCESS


def store_with_reply_to(backend: ResultBackend,
                        records: Sequence[tuple[str | None, ResultMeta]]) -> None:
    """Store ``(reply_to, meta)`` records: ``rpc://`` sends each to its task's reply queue
    (a record has no other way to reach the client), every other store just stores it."""
    store_replies = getattr(backend, "store_replies", None)
    if store_replies is not None:
        store_replies([(reply_to or "", meta) for reply_to, meta in records])
    else:
        backend.store([meta for _, meta in records])
