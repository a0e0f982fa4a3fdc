"""``SharedTable``: objects shared process-wide by key, made on first request.

Some objects must be one per process and key, whoever asks for them: the in-process broker of
a ``memory://name`` namespace, the wake-up notifier of a SQLite file. Looking one up and making
it when missing must happen under a lock, or two threads asking at once would each make one
and never see each other's.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, MutableMapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedTable(Generic[K, V]):
    """A thread-safe get-or-create table.

    Args:
        factory: makes the value of a key not in the table yet.
        weak: hold values only while someone else does (a ``WeakValueDictionary``); the
            next request after the last holder let go makes a fresh one.
    """

    def __init__(self, factory: Callable[[], V], *, weak: bool = False) -> None:
        self._factory = factory
        self._table: MutableMapping[K, V] = weakref.WeakValueDictionary() if weak else {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        """The value of ``key``, made now if there is none."""
        with self._lock:
            value = self._table.get(key)
            if value is None:
                value = self._table[key] = self._factory()
            return value


__all__ = ["SharedTable"]
