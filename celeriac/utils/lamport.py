"""Celery's Lamport clock, shared by remote control and events.

Both planes stamp every message with it (pidbox headers' ``clock``, every event's ``clock``
field) and move it forward past any clock they receive, so monitors can order what several
nodes said. It lives here, below both ``control`` and ``events``, because siblings of one
layer may not import each other.
"""

from __future__ import annotations

import threading
from typing import Any


class LamportClock:
    """A thread-safe logical clock: ``forward`` for a local event, ``adjust`` on receipt."""

    def __init__(self, initial: int = 0) -> None:
        self._value = initial
        self._lock = threading.Lock()

    def forward(self) -> int:
        with self._lock:
            self._value += 1
            return self._value

    def forward_many(self, count: int) -> int:
        """Move ``count`` ticks at once (one lock for a batch of events); the first of them."""
        with self._lock:
            first = self._value + 1
            self._value += count
            return first

    def adjust(self, other: Any) -> int:
        with self._lock:
            if isinstance(other, int) and other > self._value:
                self._value = other
            self._value += 1
            return self._value

    @property
    def value(self) -> int:
        return self._value


__all__ = ["LamportClock"]
