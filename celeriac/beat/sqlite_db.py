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

from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.sqlite.connection import SqliteHandle

_SQLITE_MAGIC = b"SQLite format 3\x00"


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
        _check_is_sqlite(self.path)
        return super()._open()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        for statement in self._schema:
            conn.execute(statement)


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
