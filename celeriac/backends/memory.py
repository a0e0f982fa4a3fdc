"""``cache+memory://`` / ``memory://``: results kept in this process, for tests and eager mode.

Records are stored encoded, exactly as a networked store would hold them, so a caller never
shares (and mutates) the worker's objects. ``cache+memory://name`` selects a separate
namespace; the same name in one process is the same store, held in the module-level
``_stores`` registry: test infrastructure, documented here, like ``transport/memory.py``.
``wait`` sleeps on a condition that every write notifies, so it returns the moment the
result lands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Self

from celeriac.backends.base import (
    TASK_KEY_PREFIX,
    KeyValueBackend,
)
from celeriac.backends.capabilities import Capability
from celeriac.backends.chords import ChordJoin, LazyJoin, MemoryChordJoin
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta


class _Store:
    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.data: dict[str, tuple[bytes, float | None]] = {}

    def live(self, key: str, now: float) -> bytes | None:
        """The value of ``key`` unless expired (then dropped). Caller holds ``cond``."""
        entry = self.data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= now:
            del self.data[key]
            return None
        return value


_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


def _store_named(name: str) -> _Store:
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = _Store()
        return store


class MemoryBackend(KeyValueBackend):
    """Results in a named in-process namespace (see the module docstring)."""

    persistent = False
    capabilities = KeyValueBackend.capabilities | {Capability.CHORDS}

    def __init__(self, name: str = "", options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.name = name
        self._store = _store_named(name)
        self._chord_join = LazyJoin(lambda: MemoryChordJoin(name))

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        _, _, rest = url.partition("://")
        return cls(rest.split("?", 1)[0].strip("/"), options)

    def _kv_get(self, key: str) -> bytes | None:
        with self._store.cond:
            return self._store.live(key, time.time())

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.time()
        with self._store.cond:
            return [self._store.live(key, now) for key in keys]

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        with self._store.cond:
            self._put(items, ttl, time.time())

    def _put(self, items: Sequence[tuple[str, bytes]], ttl: float | None, now: float) -> None:
        """Write ``items`` and wake the waiters. Caller holds ``cond``."""
        expires_at = None if ttl is None else now + ttl
        for key, value in items:
            self._store.data[key] = (value, expires_at)
        self._store.cond.notify_all()

    def _kv_delete(self, key: str) -> None:
        with self._store.cond:
            self._store.data.pop(key, None)

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Check and write under one lock, as ``StoreIfNotFinal`` allows."""
        now = time.time()
        keys = [TASK_KEY_PREFIX + meta.task_id for meta in metas]
        with self._store.cond:
            existing = {key: self._store.live(key, now) for key in keys}
            self._put(self.if_not_final.replacing(keys, metas, existing),
                      self.options.expires, now)

    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Sleep on the store's condition until the record is ready or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        key = TASK_KEY_PREFIX + task_id
        with self._store.cond:
            while True:
                meta = self.decode_meta(task_id, self._store.live(key, time.time()))
                if meta.ready:
                    return meta
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}.")
                self._store.cond.wait(remaining)

    def clear(self) -> None:
        """Forget every record of this namespace (tests)."""
        with self._store.cond:
            self._store.data.clear()

    def __repr__(self) -> str:
        return f"<MemoryBackend cache+memory://{self.name}>"


__all__ = ["MemoryBackend"]
