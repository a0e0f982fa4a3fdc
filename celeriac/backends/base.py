"""The result-store seam, and ``KeyValueBackend`` that derives everything from six primitives.

Stores are synchronous and thread-safe. Beyond keeping task records, a store declares what
else it can do (``backends.capabilities``: chords, groups, store-if-not-final). A key-value
store only implements ``get/mget/set/delete``; record layout, the replace rule
(``backends.final_state``), saved groups, batching and waiting are written once here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from celeriac.backends.capabilities import Capability, StoreCapabilities
from celeriac.backends.celery_api import KeyValueKeys
from celeriac.backends.final_state import StoreIfNotFinal
from celeriac.backends.record_codec import RecordCodec
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta, decode_record

if TYPE_CHECKING:
    from celeriac.backends.chords import ChordJoin

TASK_KEY_PREFIX = "celery-task-meta-"
GROUP_KEY_PREFIX = "celery-taskset-meta-"


def celery_keyprefix(global_keyprefix: str | None) -> str:
    """Celery's rule for ``global_keyprefix`` on result keys (``celery.backends.base``)."""
    if not global_keyprefix:
        return ""
    return global_keyprefix if global_keyprefix[-1] in ":_-." else global_keyprefix + "_"


class ResultBackend(Protocol):
    """Where task outcomes are written by workers and read by clients."""

    persistent: bool
    #: What the store supports beyond task records (``backends.capabilities``).
    capabilities: frozenset[Capability]

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Record ``metas`` in order; with ``STORE_IF_NOT_FINAL``, each only where
        ``final_state.may_replace`` allows it."""

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

    def chord_join(self) -> ChordJoin:
        """The ``CHORDS`` capability: this store's chord counter."""

    def save_group(self, group_id: str, result: Any) -> None:
        """The ``GROUPS`` capability: keep a group (a ``GroupResult`` or its tuple form)."""

    def restore_group(self, group_id: str) -> Any:
        """The ``GROUPS`` capability: the tuple form saved under ``group_id``, or None."""

    def delete_group(self, group_id: str) -> None:
        """The ``GROUPS`` capability: forget a saved group."""


class KeyValueBackend(KeyValueKeys, StoreCapabilities):
    """A result store built from key-value primitives; subclasses implement ``_kv_*``."""

    persistent = True
    capabilities = frozenset({Capability.GROUPS, Capability.STORE_IF_NOT_FINAL})

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self.codec = RecordCodec(self.options.serializer, self.options.compression,
                                 self.options.accept)
        self.if_not_final = StoreIfNotFinal(self.codec)

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
        items = self.if_not_final.replacing(keys, metas, existing)
        if items:
            self._kv_set_many(items, self.options.expires)

    def get(self, task_id: str) -> ResultMeta:
        return self.decode_meta(task_id, self._kv_get(TASK_KEY_PREFIX + task_id))

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        raw = self._kv_mget([TASK_KEY_PREFIX + task_id for task_id in task_ids])
        return [self.decode_meta(tid, data) for tid, data in zip(task_ids, raw, strict=True)]

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        return poll_until_ready(self.get, task_id, timeout, interval)

    def forget(self, task_id: str) -> None:
        self._kv_delete(TASK_KEY_PREFIX + task_id)

    # -- the GROUPS capability: Celery's layout, wire-protocol.md §4.3 ----------------------
    def save_group(self, group_id: str, result: Any) -> None:
        """Keep ``{"result": <as_tuple() form>}`` under ``celery-taskset-meta-<gid>``, encoded
        as Celery encodes it (``result_serializer``, ``result_compression``), with the
        records' TTL. ``result`` is a ``GroupResult`` (as Celery passes it) or its
        ``as_tuple()`` form."""
        tree = result.as_tuple() if hasattr(result, "as_tuple") else result
        self._kv_set_many([(GROUP_KEY_PREFIX + group_id, self.codec.dumps({"result": tree}))],
                          self.options.expires)

    def restore_group(self, group_id: str) -> Any:
        raw = self._kv_get(GROUP_KEY_PREFIX + group_id)
        return None if raw is None else self.codec.loads(raw)["result"]

    def delete_group(self, group_id: str) -> None:
        self._kv_delete(GROUP_KEY_PREFIX + group_id)

    # -- encoding ------------------------------------------------------------------------
    def encode_meta(self, meta: ResultMeta) -> bytes:
        return self.codec.dumps(meta.to_dict())

    def decode_meta(self, task_id: str, data: bytes | None) -> ResultMeta:
        if data is None:
            return ResultMeta(task_id)
        return decode_record(data, task_id, self.codec.loads)


def poll_until_ready(get: Callable[[str], ResultMeta], task_id: str, timeout: float | None,
                     interval: float = 0.5) -> ResultMeta:
    """``ResultBackend.wait`` for a store without notifications: poll ``get`` with backoff
    from 5 ms up to ``interval``, cheap for quick tasks, calm for slow ones."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        meta = get(task_id)
        if meta.ready:
            return meta
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"The operation timed out waiting for task {task_id}.")
            delay = min(delay, remaining)
        time.sleep(delay)
        delay = min(delay * 2, interval)


def store_with_reply_to(backend: ResultBackend,
                        records: Sequence[tuple[str | None, ResultMeta]]) -> None:
    """Store ``(reply_to, meta)`` records: ``rpc://`` sends each to its task's reply queue
    (a record has no other way to reach the client), every other store just stores it."""
    store_replies = getattr(backend, "store_replies", None)
    if store_replies is not None:
        store_replies([(reply_to or "", meta) for reply_to, meta in records])
    else:
        backend.store([meta for _, meta in records])
