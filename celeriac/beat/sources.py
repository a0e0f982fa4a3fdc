"""Where beat's entries come from, including schedules that change while beat runs.

A :class:`ScheduleSource` answers two questions: "what are the entries?" (``load``) and "did
anything change?" (``version``, a marker that must be cheap: the scheduler asks every tick and
reloads only when it moves). Two sources ship:

* :class:`StaticConfigSource`: ``beat_schedule`` / ``CELERYBEAT_SCHEDULE`` and the entries added
  with ``app.add_periodic_task`` (in an ``on_after_configure`` handler).
* :class:`SqliteScheduleSource`: a table of entries any process may edit — through the
  ``add``/``update``/``disable``/``enable``/``remove`` methods, or with plain SQL, since triggers
  bump the change marker. Beat picks up added, changed and disabled entries at its next tick,
  well within ``beat_max_loop_interval``. The Django integration builds on this interface.

A changed entry keeps its run state (last run, run count); a removed or disabled one loses it,
so re-enabling an entry starts it afresh instead of firing a catch-up run for the time it was off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from celeriac.beat.entry import ScheduleEntry, entry_from_periodic_task, entry_from_spec
from celeriac.beat.schedule_codec import decode_schedule, encode_schedule
from celeriac.beat.sqlite_db import BeatDatabase
from celeriac.exceptions import CeleriacError

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)


class ScheduleSourceError(CeleriacError):
    """A schedule source was asked to change an entry it cannot (missing, or already there)."""


class ScheduleSource(Protocol):
    """A provider of beat entries (see the module docstring)."""

    def load(self) -> dict[str, ScheduleEntry]:
        """The enabled entries by name; their run state is the scheduler's business."""
        ...

    def version(self) -> Hashable:
        """A cheap marker that differs whenever ``load()`` would return something different."""
        ...

    def close(self) -> None: ...


class StaticConfigSource:
    """``beat_schedule`` plus ``app.periodic_tasks``; a ``beat_schedule`` name wins on a clash."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def load(self) -> dict[str, ScheduleEntry]:
        entries = {
            name: entry_from_periodic_task(name, item)
            for name, item in self.app.periodic_tasks.items()
        }
        for name, spec in (self.app.conf.beat_schedule or {}).items():
            entries[name] = entry_from_spec(name, spec)
        return entries

    def version(self) -> Hashable:
        return (tuple(self.app.periodic_tasks), tuple(self.app.conf.beat_schedule or {}))

    def close(self) -> None:
        return None


_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS celeriac_beat_entries (
        name TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        schedule TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '[]',
        kwargs TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_at REAL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS celeriac_beat_changes (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO celeriac_beat_changes (id, version) VALUES (1, 0)",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS celeriac_beat_entries_{event.lower()}
        AFTER {event} ON celeriac_beat_entries
        BEGIN UPDATE celeriac_beat_changes SET version = version + 1 WHERE id = 1; END"""
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
)
_COLUMNS: Final = ("task", "schedule", "args", "kwargs", "options", "enabled")


class SqliteScheduleSource:
    """Entries in table ``celeriac_beat_entries`` of a SQLite file (see the module docstring).

    Columns: ``name`` (key), ``task``, ``schedule`` (JSON, see
    :mod:`celeriac.beat.schedule_codec`), ``args``/``kwargs``/``options`` (JSON), ``enabled``.
    A row that does not decode is logged at ERROR and skipped; the others keep running.

    Args:
        path: the database file; may be the broker's SQLite file or any other.
    """

    def __init__(self, path: str) -> None:
        self.db = BeatDatabase(path, _SCHEMA)
        self.path = self.db.path

    # -- the ScheduleSource side ----------------------------------------------------------
    def version(self) -> Hashable:
        with self.db.connection() as conn:
            row = conn.execute("SELECT version FROM celeriac_beat_changes WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def load(self) -> dict[str, ScheduleEntry]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT name, task, schedule, args, kwargs, options FROM celeriac_beat_entries "
                "WHERE enabled != 0 ORDER BY name"
            ).fetchall()
        entries: dict[str, ScheduleEntry] = {}
        for row in rows:
            try:
                entries[row[0]] = _entry_from_row(row)
            except (CeleriacError, ValueError, TypeError) as exc:
                logger.error(
                    "beat: skipping entry %r of %s: %s", row[0], self.path, exc, exc_info=True
                )
        return entries

    def close(self) -> None:
        self.db.close()

    # -- the editing side -------------------------------------------------------------------
    def add(
        self,
        name: str,
        task: str,
        schedule: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        enabled: bool = True,
        relative: bool = False,
    ) -> None:
        """Add entry ``name``; ``schedule`` as :func:`~celeriac.beat.schedule_codec.encode_schedule`
        takes it (seconds, timedelta, cron line, crontab, schedule, solar).

        Raises:
            ScheduleSourceError: an entry of that name exists (use ``update``).
        """
        row = _encode_row(task, schedule, args, kwargs, options, enabled, relative)
        with self.db.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM celeriac_beat_entries WHERE name = ?", (name,)
            ).fetchone():
                raise ScheduleSourceError(f"beat entry {name!r} already exists; use update()")
            conn.execute(
                f"INSERT INTO celeriac_beat_entries (name, {', '.join(_COLUMNS)}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, *row, time.time()),
            )

    def update(self, name: str, **changes: Any) -> None:
        """Change some of ``task``, ``schedule``, ``args``, ``kwargs``, ``options``, ``enabled``.

        Raises:
            ScheduleSourceError: no such entry, or an unknown field.
        """
        unknown = set(changes) - set(_COLUMNS) - {"relative"}
        if unknown:
            raise ScheduleSourceError(
                f"cannot update {sorted(unknown)} of beat entry {name!r}; "
                f"fields are {', '.join(_COLUMNS)}"
            )
        relative = bool(changes.pop("relative", False))
        values = {key: _encode_field(key, value, relative) for key, value in changes.items()}
        assignments = ", ".join(f"{key} = ?" for key in values)
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE celeriac_beat_entries SET {assignments}{', ' if values else ''}"
                "updated_at = ? WHERE name = ?",
                (*values.values(), time.time(), name),
            )
            if cursor.rowcount == 0:
                raise ScheduleSourceError(f"no beat entry named {name!r} in {self.path}")

    def disable(self, name: str) -> None:
        """Stop sending ``name`` (kept in the table; ``enable`` brings it back)."""
        self.update(name, enabled=False)

    def enable(self, name: str) -> None:
        self.update(name, enabled=True)

    def remove(self, name: str) -> None:
        """Delete entry ``name``; a missing entry is not an error."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM celeriac_beat_entries WHERE name = ?", (name,))


def _encode_field(key: str, value: Any, relative: bool) -> Any:
    if key == "schedule":
        return json.dumps(encode_schedule(value, relative))
    if key == "args":
        return json.dumps(list(value or ()))
    if key in ("kwargs", "options"):
        return json.dumps(dict(value or {}))
    if key == "enabled":
        return 1 if value else 0
    return str(value)


def _encode_row(
    task: str,
    schedule: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None,
    enabled: bool,
    relative: bool,
) -> tuple[Any, ...]:
    values = {
        "task": task,
        "schedule": schedule,
        "args": args,
        "kwargs": kwargs,
        "options": options,
        "enabled": enabled,
    }
    return tuple(_encode_field(key, values[key], relative) for key in _COLUMNS)


def _entry_from_row(row: Sequence[Any]) -> ScheduleEntry:
    name, task, schedule_json, args, kwargs, options = row
    spec = json.loads(schedule_json)
    return ScheduleEntry(
        name=name,
        task=task,
        schedule=decode_schedule(spec),
        args=tuple(json.loads(args)),
        kwargs=dict(json.loads(kwargs)),
        options=dict(json.loads(options)),
        relative=bool(spec.get("relative", False)),
    )
