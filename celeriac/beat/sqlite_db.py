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

from celeriac.clients.sqlite import SqliteHandle
from celeriac.exceptions import ImproperlyConfigured, OperationalError

#: SQLite's result code for "file is not a database" (the header is not SQLite's).
_SQLITE_NOTADB = 26


class BeatDatabase(SqliteHandle):
    """The broker's fork-aware SQLite handle, with beat's own tables instead of the broker's.

    Args:
        path: the database file (created if missing; its folder must exist).
        schema: statements run once per connection (``CREATE ... IF NOT EXISTS``).
        busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: str, schema: tuple[str, ...], busy_timeout: float = 10.0) -> None:
        super().__init__(os.path.abspath(path), busy_timeout=busy_timeout)
        self._schema = schema

    def _open(self) -> sqlite3.Connection:
        try:
            return super()._open()
        except OperationalError as exc:
            if _is_not_a_database(exc.__cause__):
                raise _not_sqlite(self.path) from exc
            raise

    def _prepare(self, conn: sqlite3.Connection) -> None:
        for statement in self._schema:
            conn.execute(statement)


def _is_not_a_database(error: BaseException | None) -> bool:
    """Whether SQLite refused the file because its header is not SQLite's (SQLITE_NOTADB).

    The file is never opened with a plain ``open()`` to look at its header: in a process that
    has SQLite connections to it (``worker -B`` on the broker file), closing any other
    descriptor of the file drops all of the process's POSIX locks on it, and the next
    connection to close elsewhere then deletes the WAL the worker still writes to. SQLite's
    own open tracks those locks per file and defers such closes, so it is the one safe reader.
    """
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code == _SQLITE_NOTADB)
    return "not a database" in str(error)


def _not_sqlite(path: str) -> ImproperlyConfigured:
    """The error for a file that exists but is not SQLite (say, Celery's shelve file)."""
    return ImproperlyConfigured(
        f"{path!r} exists but is not a celeriac schedule file (SQLite); it is probably "
        "Celery beat's shelve file, which celeriac cannot read. Delete it (beat then starts "
        "every entry afresh) or pass another file with -s/--schedule."
    )
