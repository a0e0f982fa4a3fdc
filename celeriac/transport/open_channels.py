"""``OpenChannels``: the channels a transport handed out, so ``Transport.close()`` closes them.

Every transport keeps this list the same way (append under a lock, swap it out and close each
outside the lock, so a channel's own ``close`` may take its time without blocking new
``channel()`` calls); this is that one implementation.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import MutableMapping
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class OpenChannels(Generic[C]):
    """A thread-safe set of the open channels.

    ``weak=True`` holds them weakly: a channel its user dropped is not kept alive (and open)
    until the transport closes, for transports whose channels free their resources when
    collected (SQLite connections).
    """

    def __init__(self, *, weak: bool = False) -> None:
        self._lock = threading.Lock()
        self._weak = weak
        self._channels = self._new()

    def _new(self) -> MutableMapping[C, None]:
        return weakref.WeakKeyDictionary() if self._weak else {}

    def add(self, channel: C) -> C:
        """Remember ``channel`` (returned, for ``return self._open.add(Channel(...))``)."""
        with self._lock:
            self._channels[channel] = None
        return channel

    def close_all(self) -> None:
        """Close every channel handed out so far; later ``add`` calls start a new set."""
        with self._lock:
            channels, self._channels = list(self._channels), self._new()
        for channel in channels:
            channel.close()


__all__ = ["OpenChannels"]
