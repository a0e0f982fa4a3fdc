"""The SQLite connection beat's own tables live behind (schedule store, lease, schedule source).

Beat opens its own connection rather than borrowing a transport channel: its tables are small,
written a few times per tick at most, and must work on files that are not brokers at all (the
schedule file). WAL mode lets a standby beat, an admin process editing the schedule source and a
worker read while the active beat writes; ``BEGIN IMMEDIATE`` takes the write lock up front so a
busy file means waiting ``busy_timeout`` rather than failing halfway through a transaction.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celeriac.exceptions import ImproperlyConfigured, OperationalError

_SQLITE_MAGIC = b"SQLite format 3\x00"


class BeatDatabase:
    """One lazily opened, fork-aware connection to ``path``, used by any thread under a lock.

    Args:
        path: the database file (created if missing; its folder must exist).
        schema: statements run once per connection (``CREATE ... IF NOT EXISTS``).
        busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: str, schema: tuple[str, ...], busy_timeout: float = 10.0) -> None:
        self.path = os.path.abspath(path)
        self._schema = schema
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()

    def _open(self) -> sqlite3.Connection:
        _check_is_sqlite(self.path)
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            for statement in self._schema:
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise OperationalError(
                f"Cannot open beat database {self.path!r}: {exc}; check that its folder exists "
                "and is writable"
            ) from exc
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone while the block runs (autocommit reads)."""
        with self._lock:
            if self._pid != os.getpid():  # never use a connection across fork()
                self._conn, self._pid = None, os.getpid()
            if self._conn is None:
                self._conn = self._open()
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise OperationalError(f"beat database {self.path!r}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), rolled back on error."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()


def _check_is_sqlite(path: str) -> None:
    """Refuse a file that exists but is not SQLite (say, Celery's shelve ``celerybeat-schedule``).

    Raises:
        ImproperlyConfigured: naming the file and the two ways out.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read beat database {path!r}: {exc}") from exc
    if head and head != _SQLITE_MAGIC:
        raise ImproperlyConfigured(
            f"{path!r} exists but is not a celeriac schedule file (SQLite); it is probably "
            "Celery beat's shelve file, which celeriac cannot read. Delete it (beat then starts "
            "every entry afresh) or pass another file with -s/--schedule."
        )
