"""The SQLite file behind the embedded broker and result store: URL parsing, connections, wake-ups.

A ``SqliteHandle`` owns one connection, used by any thread under a lock. SQLite lets one
writer in at a time per file anyway, and every statement here is short, so a lock per handle
costs nothing measurable and keeps the file-handle count at one per channel.

Fork safety: a connection must never cross ``fork()`` (https://sqlite.org/howtocorrupt.html
§2.6). The handle remembers the pid that opened it; in a child it opens a fresh connection and
*keeps the inherited one referenced but unused*, because closing it from the child could
checkpoint or unlink the parent's WAL.

``Notifier`` wakes in-process waiters (a fetch blocked in the worker thread, a result wait in
the client thread) the moment a write commits, so the in-process path never polls. Waiters in
other processes poll ``PRAGMA data_version`` instead, which is a read of a counter in shared
memory. The notifier registry below is process-wide state on purpose: two ``SqliteTransport``
objects on the same file in one process (a test client and an in-thread worker) must wake each
other. It is keyed by pid so a forked child never waits on a condition copied mid-use.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from celeriac.clients.sqlite_schema import migrate
from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.utils.shared import SharedTable

logger = logging.getLogger(__name__)

DEFAULT_DATABASE: Final = "celeriac.db"


def parse_sqlite_url(url: str) -> str:
    """The absolute database path that ``url`` names, SQLAlchemy style.

    ``sqlite:///rel/path.db`` is relative to the current directory (resolved now, so a later
    ``chdir`` changes nothing), ``sqlite:////abs/path.db`` is absolute, and ``sqlite://`` alone
    means ``./celeriac.db``. Query strings are ignored.

    Raises:
        ImproperlyConfigured: the URL has a host part or asks for ``:memory:``, which other
            connections (the worker, the client) could never see.
    """
    _, sep, rest = url.partition("://")
    if not sep:
        raise ImproperlyConfigured(f"{url!r} is not a sqlite URL; write sqlite:///path/to/file.db")
    rest = rest.split("?", 1)[0]
    if rest and not rest.startswith("/"):
        raise ImproperlyConfigured(
            f"SQLite URL {url!r} has a host part; use three slashes for a relative path "
            f"(sqlite:///{rest}) or four for an absolute one (sqlite:////abs/{rest})"
        )
    path = rest[1:] or DEFAULT_DATABASE
    if path == ":memory:" or path.startswith("file::memory:"):
        raise ImproperlyConfigured(
            "An in-memory SQLite database is private to one connection, so a worker could never "
            "see what a client sends; use memory:// (broker) or cache+memory:// (results) instead"
        )
    return os.path.abspath(path)


class Notifier:
    """A sequence number plus a condition: ``wait`` returns as soon as ``notify`` bumps it."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.seq = 0

    def notify(self) -> None:
        with self._cond:
            self.seq += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block up to ``timeout`` s unless the sequence already moved past ``seen``."""
        with self._cond:
            if self.seq == seen and timeout > 0:
                self._cond.wait(timeout)
            return self.seq


#: The process-wide notifiers by (pid, database path); see the module docstring.
_notifiers: SharedTable[tuple[int, str], Notifier] = SharedTable(Notifier, weak=True)


class FileWakeups:
    """``wakeups()``: the notifier of one database file in the current process.

    The registry holds notifiers weakly, so whoever waits on or notifies a file holds its
    notifier strongly through one of these; a forked child looks its own up again. Used by
    the broker's channels and the result store alike.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._notifier: Notifier | None = None
        self._pid = -1

    def __call__(self) -> Notifier:
        pid = os.getpid()
        if self._notifier is None or self._pid != pid:
            self._notifier = _notifiers.get((pid, self._path))
            self._pid = pid
        return self._notifier


class SqliteHandle:
    """One lazily opened, fork-aware connection to ``path`` shared by threads under a lock.

    Args:
        path: absolute database path; its directory must exist.
        busy_timeout: seconds a statement waits for another process's write lock before
            failing with ``OperationalError``.
        synchronous: ``NORMAL`` (default) survives process crashes; ``FULL`` also survives
            power loss at the cost of an fsync per commit.
    """

    def __init__(self, path: str, *, busy_timeout: float = 5.0, synchronous: str = "NORMAL"):
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ImproperlyConfigured(
                f"sqlite synchronous={synchronous!r} is not one of OFF, NORMAL, FULL, EXTRA"
            )
        self.path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous.upper()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []

    @property
    def pid(self) -> int:
        return self._pid

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            if self._conn is not None:
                self._inherited.append(self._conn)  # never used nor closed here: see module doc
            self._conn = None
            self._lock = threading.RLock()
            self._pid = os.getpid()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise OperationalError(
                f"Cannot open SQLite database {self.path!r}: {exc}; check that its directory "
                "exists and is writable"
            ) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise OperationalError(f"Cannot prepare SQLite database {self.path!r}: {exc}") from exc
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Bring the schema up to date on a fresh connection (the broker's migrations)."""
        migrate(conn)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, exclusively for this thread while the block runs (autocommit mode)."""
        self._check_fork()
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise OperationalError(f"SQLite database {self.path!r}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the file's write lock up front.

        Taking it up front (rather than upgrading a read) means a busy file makes us wait
        ``busy_timeout`` instead of failing with SQLITE_BUSY_SNAPSHOT halfway through.
        """
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def data_version(self) -> int:
        """A counter that changes whenever *another* connection commits to the file."""
        with self.connection() as conn:
            row = conn.execute("PRAGMA data_version").fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the connection this process opened; inherited ones stay untouched."""
        self._check_fork()
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    logger.debug("Closing SQLite connection to %s failed", self.path, exc_info=True)


__all__ = [
    "DEFAULT_DATABASE",
    "FileWakeups",
    "Notifier",
    "SqliteHandle",
    "parse_sqlite_url",
]
