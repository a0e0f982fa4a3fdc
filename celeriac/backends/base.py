"""The result-store seam, and ``KeyValueBackend`` that derives everything from six primitives.

Stores are synchronous and thread-safe. A key-value store only implements ``get/mget/set/
delete``; record layout, the never-overwrite-SUCCESS rule (wire-protocol.md §7.15), batching
and waiting are written once here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from celeriac import states
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta, decode_record
from celeriac.serialization.json_codec import json_dumps

TASK_KEY_PREFIX = "celery-task-meta-"
GROUP_KEY_PREFIX = "celery-taskset-meta-"


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Settings a result store needs, frozen from ``result_*`` settings.

    ``expires`` is the TTL of stored records in seconds (None: keep forever).
    """

    expires: float | None = 86400.0
    extended: bool = False
    serializer: str = "json"
    extra: Mapping[str, Any] = field(default_factory=dict)


class ResultBackend(Protocol):
    """Where task outcomes are written by workers and read by clients."""

    persistent: bool

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Record ``metas``; a stored SUCCESS is never overwritten."""

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
        existing = self._kv_mget(keys)
        items = [
            (key, self.encode(meta))
            for key, meta, old in zip(keys, metas, existing, strict=True)
            if not is_success(old)
        ]
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
    @staticmethod
    def encode(meta: ResultMeta) -> bytes:
        return json_dumps(meta.to_dict())

    @staticmethod
    def decode(task_id: str, data: bytes | None) -> ResultMeta:
        if data is None:
            return ResultMeta(task_id)
        return decode_record(data, task_id)


def is_success(raw: bytes | None) -> bool:
    """Cheap check of a stored record's status without decoding its (maybe large) result."""
    if raw is None:
        return False
    head = raw[:40]
    if b'"status"' in head:
        return b'"SUCCESS"' in head
    try:
        return bool(json.loads(raw).get("status") == states.SUCCESS)
    except (ValueError, AttributeError):
        return False
