"""``ScheduleEntry``: one periodic task as beat sees it, and how config turns into entries.

An entry is the definition (task name, schedule, arguments, send options) plus its run state
(``last_run_at``, ``total_run_count``). Definitions come from schedule sources (the app's
``beat_schedule`` / ``CELERYBEAT_SCHEDULE`` and ``add_periodic_task``, or a database table); run
state comes from the schedule store, so a restart resumes where the last beat left off.

Every schedule is evaluated through a :class:`ScheduleContext`: the scheduler's clock and the
app's time zone. The schedules duck-type their ``app`` (``timezone``, ``now()``, ``conf``), so the
context plugs in where Celery would pass the app, and a test's fake clock reaches the schedule
math without monkeypatching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from celeriac.beat.base import BaseSchedule, Schedule
from celeriac.beat.interval import maybe_schedule
from celeriac.beat.interval import schedule as interval_schedule
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.time import UTC, get_timezone

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the system time as an aware UTC datetime."""
    return datetime.now(UTC)


def app_timezone(conf: Any) -> tzinfo:
    """The zone crontabs are read in: ``timezone``, else UTC (``enable_utc``), else local time.

    This is Celery's ``app.timezone``; celeriac's app does not carry the property, so beat
    resolves it here from the settings.
    """
    zone = conf.get("timezone")
    if zone:
        return get_timezone(zone)
    if conf.get("enable_utc", True):
        return UTC
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


@dataclass
class ScheduleContext:
    """What a schedule asks of "the app": the time zone, the current time and the settings."""

    timezone: tzinfo
    clock: Clock = utc_now
    conf: Any = None

    def now(self) -> datetime:
        return self.clock()


class ScheduleEntry:
    """A periodic task: definition plus run state (Celery's ``celery.beat.ScheduleEntry``).

    The constructor, ``next(entry)`` (the entry after one more run), ``update``, ``is_due``,
    ``default_now``, ``dict(entry)`` and equality on the editable fields (``task``, ``args``,
    ``kwargs``, ``options``, ``schedule``) are Celery's, so ``Entry`` subclasses port unchanged.
    ``last_run_at`` defaults to now; the scheduler replaces it with the stored last run when it
    adopts an entry (so a new entry first runs one period after beat starts, as in Celery).
    """

    def __init__(
        self,
        name: str | None = None,
        task: str | None = None,
        last_run_at: datetime | None = None,
        total_run_count: int | None = None,
        schedule: Any = None,
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        relative: bool = False,
        app: Any = None,
    ) -> None:
        self.app = app
        self.name = name or ""
        self.task = task or ""
        self.args = args
        self.kwargs: dict[str, Any] = kwargs if kwargs else {}
        self.options: dict[str, Any] = options if options else {}
        self.relative = relative
        # A schedule a scheduler bound to its clock and zone stays bound (``next(entry)``).
        bound = isinstance(getattr(schedule, "app", None), ScheduleContext)
        self.schedule: Schedule = maybe_schedule(  # type: ignore[assignment]
            schedule, relative, app=None if bound else app)
        self.last_run_at: datetime = last_run_at or self.default_now()
        self.total_run_count = total_run_count or 0

    def default_now(self) -> datetime:
        """Now, by the entry's schedule (its clock and zone), else the app's, else UTC."""
        now = getattr(self.schedule, "now", None) or getattr(self.app, "now", None)
        value = now() if callable(now) else None
        return value if isinstance(value, datetime) else utc_now()

    _default_now = default_now

    def _next_instance(self, last_run_at: datetime | None = None) -> ScheduleEntry:
        """The entry after one more run: ``last_run_at`` now, ``total_run_count + 1``."""
        return self.__class__(**dict(
            self, last_run_at=last_run_at or self.default_now(),
            total_run_count=self.total_run_count + 1))

    __next__ = next = _next_instance

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (
            self.name, self.task, self.last_run_at, self.total_run_count,
            self.schedule, self.args, self.kwargs, self.options,
        )

    def update(self, other: ScheduleEntry) -> None:
        """Take the editable fields of ``other``; the run state stays."""
        self.__dict__.update({
            "task": other.task, "schedule": other.schedule, "args": other.args,
            "kwargs": other.kwargs, "options": other.options,
        })

    def is_due(self) -> tuple[bool, float]:
        """``(due, seconds until the next check)``; see :class:`~celeriac.beat.base.Schedule`."""
        if self.last_run_at is None:
            raise RuntimeError(f"beat entry {self.name!r} has no last run time")
        due, next_check = self.schedule.is_due(self.last_run_at)
        return bool(due), float(next_check)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(vars(self).items())

    def editable_fields_equal(self, other: ScheduleEntry) -> bool:
        return all(getattr(self, attr) == getattr(other, attr)
                   for attr in ("task", "args", "kwargs", "options", "schedule"))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScheduleEntry):
            return self.editable_fields_equal(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by value, like Celery's

    def __lt__(self, other: object) -> bool:
        """Any stable order (the heap orders by time first, as Celery's)."""
        if isinstance(other, ScheduleEntry):
            return id(self) < id(other)
        return NotImplemented

    def same_definition(self, other: ScheduleEntry) -> bool:
        """True when ``other`` would send the same task on the same schedule."""
        return (
            self.editable_fields_equal(other)
            and self.relative == other.relative
            and repr(self.schedule) == repr(other.schedule)
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: {self.name} {self.task}(*{self.args!r}, "
            f"**{self.kwargs!r}) {self.schedule!r}>"
        )


def bind_schedule(value: Schedule, context: ScheduleContext) -> Schedule:
    """A copy of ``value`` evaluated through ``context`` (clock and zone).

    Built-in schedules are copied attribute by attribute before their ``app`` is set, so the
    user's object in ``beat_schedule`` is never mutated and two schedulers in one process (the
    tests do this) never share a clock. A schedule with its own ``tz`` or ``nowfun`` keeps them.
    Custom schedule objects (anything with ``is_due``/``remaining_estimate``) are used as given.
    """
    if not isinstance(value, BaseSchedule):
        return value
    clone = object.__new__(type(value))
    clone.__dict__.update(value.__dict__)
    clone.app = context
    return clone


def to_schedule(value: Any, relative: bool, where: str) -> Schedule:
    """A schedule from seconds, a ``timedelta`` or a schedule object.

    Raises:
        ImproperlyConfigured: ``value`` is none of those; ``where`` names the entry.
    """
    if isinstance(value, bool):
        value = None  # a bool is an int, but never a meaningful interval
    if isinstance(value, int | float | timedelta):
        return interval_schedule(value, relative)
    if isinstance(value, Schedule):
        return value
    raise ImproperlyConfigured(
        f"{where}: 'schedule' must be a number of seconds, a timedelta, a crontab(), a solar() "
        f"or an object with is_due()/remaining_estimate(), not {value!r}"
    )


def entry_from_spec(name: str, spec: Mapping[str, Any]) -> ScheduleEntry:
    """An entry from a ``beat_schedule`` item: ``{'task', 'schedule', 'args', 'kwargs', ...}``.

    Raises:
        ImproperlyConfigured: the item is not a mapping, or lacks ``task``/``schedule``.
    """
    where = f"beat_schedule entry {name!r}"
    if not isinstance(spec, Mapping):
        raise ImproperlyConfigured(
            f"{where} must be a dict with 'task' and 'schedule', not {spec!r}"
        )
    for key in ("task", "schedule"):
        if spec.get(key) is None:
            raise ImproperlyConfigured(
                f"{where} has no {key!r}; every entry needs both "
                "'task' (a task name) and 'schedule'"
            )
    relative = bool(spec.get("relative", False))
    task = spec["task"]
    return ScheduleEntry(
        name=name,
        task=str(getattr(task, "name", task)),
        schedule=to_schedule(spec["schedule"], relative, where),
        args=tuple(spec.get("args") or ()),
        kwargs=dict(spec.get("kwargs") or {}),
        options=dict(spec.get("options") or {}),
        relative=relative,
    )


def entry_from_periodic_task(name: str, item: Mapping[str, Any]) -> ScheduleEntry:
    """An entry from ``app.periodic_tasks`` (``add_periodic_task``), as Celery builds it.

    The signature's own partial arguments come first and the call's ``args`` are appended (Celery
    clones the signature with them); kwargs and options are merged, the call's winning.
    """
    sig = item["task"]
    if isinstance(sig, Mapping) and "task" in sig:
        task_name = str(sig["task"])
        args = tuple(sig.get("args") or ()) + tuple(item.get("args") or ())
        kwargs = {**dict(sig.get("kwargs") or {}), **dict(item.get("kwargs") or {})}
        options = {**dict(sig.get("options") or {}), **dict(item.get("options") or {})}
    else:
        task_name = str(getattr(sig, "name", sig))
        args = tuple(item.get("args") or ())
        kwargs = dict(item.get("kwargs") or {})
        options = dict(item.get("options") or {})
    relative = bool(options.pop("relative", False))
    return ScheduleEntry(
        name=name,
        task=task_name,
        schedule=to_schedule(item["schedule"], relative, f"periodic task {name!r}"),
        args=args,
        kwargs=kwargs,
        options=options,
        relative=relative,
    )
