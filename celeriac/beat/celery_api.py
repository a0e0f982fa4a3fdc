"""The overridable half of Celery's ``celery.beat.Scheduler``, so custom schedulers port unchanged.

A Celery project's scheduler subclass overrides some of ``setup_schedule``, ``tick``,
``is_due``, ``apply_entry``, ``apply_async``, ``reserve``, ``sync``, ``populate_heap``,
``schedules_equal``, the ``schedule`` property (``get_schedule``/``set_schedule``), ``Entry``
and ``info``, and calls ``add``/``update_from_dict``/``merge_inplace``. :class:`CelerySchedulerAPI`
gives :class:`~celeriac.beat.scheduler.Scheduler` those methods with Celery's signatures and
meaning, and the scheduler's tick calls them in Celery's order: ``schedule`` (compared with
``schedules_equal``, rebuilt with ``populate_heap``), then for each entry ``is_due``,
``apply_entry`` (-> ``apply_async`` -> ``send_task``) and ``reserve``.

Two differences, both from celeriac's at-least-once beat: an entry is ``reserve``d (advanced)
only after its send succeeded, so a failed send is retried within seconds instead of skipped;
and every due entry of a tick is sent in that tick (Celery sends one per tick and ticks again at
once). Run state also goes to celeriac's store after every tick; ``sync()`` is the subclass hook
Celery calls every ``sync_every`` seconds / ``sync_every_tasks`` sends, and it is called so here.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from calendar import timegm
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from celeriac.beat.entry import ScheduleContext, ScheduleEntry, bind_schedule
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.time import maybe_make_aware

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.beat.scheduler import BeatOptions
    from celeriac.results.async_result import AsyncResult

logger = logging.getLogger("celeriac.beat.scheduler")


class event_t(NamedTuple):
    """One heap item: when the entry is next looked at (UTC timestamp), priority, entry."""

    time: float
    priority: int
    entry: ScheduleEntry


class SchedulingError(Exception):
    """An entry could not be sent (Celery's ``celery.beat.SchedulingError``)."""


class BeatLazyFunc:
    """An entry argument computed at each send: ``args=(BeatLazyFunc(time.time),)``."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._func = func
        self._func_params: dict[str, Any] = {"args": args, "kwargs": kwargs}

    def __call__(self) -> Any:
        return self.delay()

    def delay(self) -> Any:
        return self._func(*self._func_params["args"], **self._func_params["kwargs"])


def _evaluate_entry_args(entry_args: Any) -> list[Any]:
    return [v() if isinstance(v, BeatLazyFunc) else v for v in entry_args or ()]


def _evaluate_entry_kwargs(entry_kwargs: Any) -> dict[str, Any]:
    return {k: v() if isinstance(v, BeatLazyFunc) else v for k, v in (entry_kwargs or {}).items()}


class CelerySchedulerAPI:
    """Celery's scheduler methods over ``self.data`` (see the module docstring)."""

    Entry: ClassVar[type[ScheduleEntry]] = ScheduleEntry
    #: Seconds between two ``sync()`` calls (Celery's default).
    sync_every: ClassVar[float] = 3 * 60
    logger: ClassVar[logging.Logger] = logger

    app: Celery
    context: ScheduleContext
    data: dict[str, Any]
    options: BeatOptions
    sync_every_tasks: int | None
    _heap: list[Any] | None
    old_schedulers: dict[str, Any] | None
    _last_sync: float | None = None
    _tasks_since_sync: int = 0

    # -- the schedule ------------------------------------------------------------------------
    def get_schedule(self) -> dict[str, Any]:
        return self.data

    def set_schedule(self, schedule: dict[str, Any]) -> None:
        self.data = schedule

    schedule = property(get_schedule, set_schedule)

    def setup_schedule(self) -> None:
        """Fill the schedule at start (Celery's hook, called by the constructor unless
        ``lazy``). The sources' entries (``beat_schedule``, ``add_periodic_task``, a table) join
        at the first tick, so a store or database that is down at start is retried there."""
        self.install_default_entries(self.data)

    def install_default_entries(self, data: Mapping[str, Any]) -> None:
        """Celery adds ``celery.backend_cleanup`` here; celeriac's result stores expire results
        themselves, so there is no default entry to add."""

    def add(self, **kwargs: Any) -> ScheduleEntry:
        entry = self._new_entry(kwargs)
        self.schedule[entry.name] = entry
        return entry

    def _maybe_entry(self, name: str, entry: Any) -> ScheduleEntry:
        if isinstance(entry, self.Entry):
            entry.app = self.app
            entry.schedule = bind_schedule(entry.schedule, self.context)
            return entry
        return self._new_entry(dict(entry, name=name))

    def _new_entry(self, fields: Mapping[str, Any]) -> ScheduleEntry:
        """An ``Entry`` whose schedule runs by the scheduler's clock and zone; without a
        ``last_run_at`` it starts now by that clock (a test's fake one too)."""
        entry = self.Entry(**{**fields, "app": self.app})
        entry.schedule = bind_schedule(entry.schedule, self.context)
        if fields.get("last_run_at") is None:
            entry.last_run_at = self.context.now()
        return entry

    def update_from_dict(self, dict_: Mapping[str, Any]) -> None:
        """Add or replace entries from ``beat_schedule``-style items (or entries)."""
        self.schedule.update({name: self._maybe_entry(name, entry)
                              for name, entry in dict_.items()})

    def merge_inplace(self, b: Mapping[str, Any]) -> None:
        """Make the schedule hold exactly ``b``'s names; kept entries keep their run state."""
        schedule = self.schedule
        for key in set(schedule) ^ set(b):
            schedule.pop(key, None)
        for key in b:
            entry = self._new_entry(dict(b[key], name=key))
            if schedule.get(key):
                schedule[key].update(entry)
            else:
                schedule[key] = entry

    def schedules_equal(self, old_schedules: Mapping[str, Any] | None,
                        new_schedules: Mapping[str, Any] | None) -> bool:
        """Whether the heap still matches the schedule (editable fields of every entry)."""
        if old_schedules is None or new_schedules is None:
            return old_schedules is new_schedules
        if set(old_schedules) != set(new_schedules):
            return False
        return all(new_schedules.get(name) == entry for name, entry in old_schedules.items())

    # -- the heap --------------------------------------------------------------------------
    def adjust(self, n: float, drift: float = -0.010) -> float:
        return n + drift if n and n > 0 else n

    def _when(self, entry: ScheduleEntry, next_time_to_run: float,
              mktime: Callable[[Any], int] = timegm) -> float:
        """The UTC timestamp ``next_time_to_run`` seconds from the entry's now."""
        as_now = maybe_make_aware(entry.default_now())
        return (mktime(as_now.utctimetuple()) + as_now.microsecond / 1e6
                + (self.adjust(next_time_to_run) or 0))

    def _is_due_failed(self, entry: ScheduleEntry) -> tuple[bool, float]:
        self.logger.error("beat: Cannot calculate the next run of %r, trying again soon",
                          entry.name, exc_info=True)
        return False, min(5.0, float(self.max_interval))

    @property
    def max_interval(self) -> float:
        """The longest sleep between two ticks (``options.max_interval``); settable."""
        return float(self.options.max_interval)

    @max_interval.setter
    def max_interval(self, value: float) -> None:
        self.options = dataclasses.replace(self.options, max_interval=float(value))

    def populate_heap(self, event_t: Any = event_t,
                      heapify: Callable[[list[Any]], None] = heapq.heapify) -> None:
        """Rebuild the heap from the schedule (the tick does when ``schedules_equal`` says no)."""
        priority = 5
        self._heap = []
        for entry in self.schedule.values():
            try:
                is_due, next_call_delay = entry.is_due()
            except Exception:  # one broken schedule must not stop the others
                is_due, next_call_delay = self._is_due_failed(entry)
            self._heap.append(event_t(
                self._when(entry, 0 if is_due else next_call_delay) or 0, priority, entry))
        heapify(self._heap)

    def is_due(self, entry: ScheduleEntry) -> tuple[bool, float]:
        return entry.is_due()

    # -- sending ---------------------------------------------------------------------------
    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        """Record one more run of ``entry``: ``next(entry)`` replaces it in the schedule."""
        new_entry = self.schedule[entry.name] = next(entry)
        return new_entry

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> bool | None:
        """Send ``entry`` now; log and return False when that failed (it is retried soon).
        An override returning None (as Celery's does) counts as sent."""
        try:
            result = self.apply_async(entry, producer=producer, advance=False)
        except Exception:  # the broker may be down: log, keep the entry due, retry soon
            self.logger.error("Scheduler: sending due task %s (%s) failed; retrying",
                              entry.name, entry.task, exc_info=True)
            return False
        self.logger.info("Scheduler: Sending due task %s (%s) id=%s", entry.name, entry.task,
                         getattr(result, "id", None))
        return True

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> AsyncResult:
        """Send ``entry`` (through its task's ``apply_async`` when registered here, as Celery
        does); ``advance`` reserves it first; extra ``kwargs`` are send options.

        Raises:
            SchedulingError: the send failed (the cause is chained).
        """
        if producer is not None and producer is not self.producer:
            raise ImproperlyConfigured(
                "celeriac's beat sends through the app's producer; another producer cannot "
                "be passed to apply_async")
        entry = self.reserve(entry) if advance else entry
        task = self.app.tasks.get(entry.task)
        try:
            args = _evaluate_entry_args(entry.args)
            kwargs_ = _evaluate_entry_kwargs(entry.kwargs)
            options = {**entry.options, **kwargs}
            options["headers"] = {**(options.get("headers") or {}), "celery_beat_task": True}
            if task is not None:
                return task.apply_async(args, kwargs_, **options)
            return self.send_task(entry.task, args, kwargs_, **options)
        except Exception as exc:
            raise SchedulingError(f"Couldn't apply scheduled task {entry.name}: {exc}") from exc
        finally:
            self._tasks_since_sync += 1
            if self.should_sync():
                self._do_sync()

    def send_task(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.app.send_task(*args, **kwargs)

    @property
    def producer(self) -> Any:
        """The app's producer: the one beat sends through."""
        return self.app.producer

    # -- syncing ---------------------------------------------------------------------------
    def should_sync(self) -> bool:
        return bool(
            not self._last_sync
            or (time.monotonic() - self._last_sync) > self.sync_every
            or (self.sync_every_tasks and self._tasks_since_sync >= self.sync_every_tasks))

    def _do_sync(self) -> None:
        try:
            self.logger.debug("beat: Synchronizing schedule...")
            self.sync()
        finally:
            self._last_sync = time.monotonic()
            self._tasks_since_sync = 0

    def sync(self) -> None:
        """Persist the schedule (subclass hook); see the scheduler's implementation."""

    @property
    def info(self) -> str:
        """A line for the ``beat`` banner (Celery's hook)."""
        return ""
