"""The SQLite channel's liveness renewer, run by the lease keeper process (``lease_keeper.py``).

What it renews is exactly what peers check before restoring a channel's rows: ``last_seen``
of the owner's row in ``consumers`` (``_RESTORE`` in ``channel.py`` frees the rows of owners
silent for ``lease_timeout``). It only updates an existing row: the channel registers itself
on its first fetch or heartbeat, and a row a peer removed (its owner taken for dead, its rows
already restored) is not brought back.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SqliteLiveness:
    """``UPDATE consumers SET last_seen = now`` for one owner, on a connection of its own."""

    path: str
    owner: str
    busy_timeout: float
    _conn: sqlite3.Connection | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}

    def renew(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                         isolation_level=None, check_same_thread=False)
        self._conn.execute("UPDATE consumers SET last_seen = ? WHERE id = ?",
                           (time.time(), self.owner))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


__all__ = ["SqliteLiveness"]
