"""The bounded mapping ``State`` keeps workers and tasks in (Celery's ``LRUCache``).

A monitor runs for weeks and sees millions of tasks; keeping them all would grow without end.
Like Celery's, the mapping forgets the entry least recently *looked up or written* once it
holds ``limit`` entries. Iterating does not count as use, so a display that lists every task
does not reshuffle the order. ``data`` is the underlying ordered dict, as in Celery, for code
that wants to read without touching the order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(MutableMapping[K, V]):
    """A dict that holds at most ``limit`` entries (``None`` or 0: no bound), oldest out first."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.data: OrderedDict[K, V] = OrderedDict()
        self._mutex = threading.RLock()

    def __getitem__(self, key: K) -> V:
        with self._mutex:
            value = self.data.pop(key)
            self.data[key] = value
            return value

    def __setitem__(self, key: K, value: V) -> None:
        with self._mutex:
            self.data.pop(key, None)
            self.data[key] = value
            if self.limit:
                while len(self.data) > self.limit:
                    self.data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        with self._mutex:
            del self.data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def items(self) -> list[tuple[K, V]]:  # type: ignore[override]
        """A snapshot of the entries, oldest first; reading them is not a use."""
        with self._mutex:
            return list(self.data.items())

    def values(self) -> list[V]:  # type: ignore[override]
        with self._mutex:
            return list(self.data.values())

    def __repr__(self) -> str:
        return f"<LRUCache limit={self.limit} size={len(self.data)}>"


__all__ = ["LRUCache"]
