"""Where beat remembers each entry's last run, so a restart neither re-runs early nor skips.

The default store is a SQLite file named by ``-s/--schedule`` (``beat_schedule_filename``,
default ``celerybeat-schedule`` in the working folder, the name Celery uses; the file is SQLite,
not Celery's shelve, and beat refuses to overwrite a shelve file it finds there). It holds one
row per entry: the UTC time of its last send and how many sends there were. ``-s`` also takes a
URL: ``sqlite:///path.db`` (a SQLite file, e.g. the broker's) or ``redis://...`` (a hash in Redis,
see :mod:`celeriac.beat.store_redis`), so beats on several hosts share one run state.

Only the active beat writes. A standby beat reads the store when it takes over, so beats that
share the file (same folder, or a shared path given with ``-s``) continue each other's schedule
exactly; a standby with its own file starts the entries it never saw from its own start time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from celeriac.beat.sqlite_db import BeatDatabase
from celeriac.config.transport_keys import RedisClientOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.time import UTC

DEFAULT_SCHEDULE_FILENAME: Final = "celerybeat-schedule"

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS celeriac_beat_state (
        name TEXT PRIMARY KEY,
        last_run_at TEXT NOT NULL,
        total_run_count INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
)


@dataclass(frozen=True, slots=True)
class EntryState:
    """The run state of one entry: when it last ran (aware UTC) and how often it has."""

    last_run_at: datetime
    total_run_count: int = 0


class ScheduleStore(Protocol):
    """Persistent run state, keyed by entry name."""

    def load(self) -> dict[str, EntryState]:
        """Every stored entry's state."""
        ...

    def save(self, states: Mapping[str, EntryState], forget: Iterable[str] = ()) -> None:
        """Upsert ``states`` and drop the entries named in ``forget``, atomically."""
        ...

    def close(self) -> None: ...


class MemoryScheduleStore:
    """Run state kept in memory only: lost on restart. For tests and throwaway beats."""

    def __init__(self) -> None:
        self._states: dict[str, EntryState] = {}

    def load(self) -> dict[str, EntryState]:
        return dict(self._states)

    def save(self, states: Mapping[str, EntryState], forget: Iterable[str] = ()) -> None:
        self._states.update(states)
        for name in forget:
            self._states.pop(name, None)

    def close(self) -> None:
        return None


class SqliteScheduleStore:
    """Run state in a SQLite file (see the module docstring).

    Raises (on first use):
        ImproperlyConfigured: the file exists and is not SQLite.
        OperationalError: the file cannot be opened or written.
    """

    def __init__(self, path: str) -> None:
        self.db = BeatDatabase(path, _SCHEMA)
        self.path = self.db.path

    def load(self) -> dict[str, EntryState]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT name, last_run_at, total_run_count FROM celeriac_beat_state"
            ).fetchall()
        return {name: EntryState(_parse(last), int(count)) for name, last, count in rows}

    def save(self, states: Mapping[str, EntryState], forget: Iterable[str] = ()) -> None:
        rows = [
            (name, s.last_run_at.astimezone(UTC).isoformat(), s.total_run_count)
            for name, s in states.items()
        ]
        gone = [(name,) for name in forget]
        if not rows and not gone:
            return
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO celeriac_beat_state (name, last_run_at, total_run_count) "
                "VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "last_run_at = excluded.last_run_at, total_run_count = excluded.total_run_count",
                rows,
            )
            conn.executemany("DELETE FROM celeriac_beat_state WHERE name = ?", gone)

    def close(self) -> None:
        self.db.close()


REDIS_SCHEMES: Final = ("redis", "rediss", "redis+socket", "unix", "socket", "sentinel")


def open_store(location: str | None,
               redis_options: RedisClientOptions | None = None) -> ScheduleStore:
    """The store ``location`` names: None (memory), a file path, ``sqlite://`` or a Redis URL.

    Raises:
        ImproperlyConfigured: a URL of another kind.
    """
    if location is None:
        return MemoryScheduleStore()
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if not scheme:
        return SqliteScheduleStore(location)
    if scheme in ("sqlite", "sqla+sqlite"):
        from celeriac.clients.sqlite import parse_sqlite_url

        return SqliteScheduleStore(parse_sqlite_url(location))
    if scheme in REDIS_SCHEMES:
        from celeriac.beat.store_redis import RedisScheduleStore

        return RedisScheduleStore.from_url(location, redis_options or RedisClientOptions())
    raise ImproperlyConfigured(
        f"beat schedule store {location.split('://', 1)[0]}:// is not supported; give a file "
        "path, a sqlite:///file.db URL or a redis:// URL"
    )


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
