"""The beat scheduler: each tick sends the due entries and says how long to sleep.

Data flow: schedule sources give entry definitions; the store gives their run state; the lease
(:mod:`celeriac.beat.lock`) decides whether this beat may send; due entries go out through
``app.send_task`` with their options (queue, priority, expires, ...); the new run state goes back
to the store in the same tick.

``tick()`` never sleeps and reads time only from the scheduler's clock, so a test drives a whole
day of schedules in milliseconds; ``run()`` is the loop around it that the ``beat`` command and
the worker's embedded :class:`~celeriac.beat.embedded.BeatService` use.

Delivery is at least once: run state is saved right after the sends of a tick, so a beat killed
in between re-sends those entries once when it (or its standby) resumes. A send that fails
(broker down) does not advance the entry; it is retried every few seconds until it goes out,
which is the one catch-up run, not one per missed interval.
"""

from __future__ import annotations

import copy
import heapq
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

from celeriac.beat.celery_api import CelerySchedulerAPI, event_t
from celeriac.beat.entry import (
    Clock,
    ScheduleContext,
    ScheduleEntry,
    app_timezone,
    bind_schedule,
    utc_now,
)
from celeriac.beat.lock import BeatLock, lock_for
from celeriac.beat.sources import ScheduleSource, StaticConfigSource
from celeriac.beat.store import DEFAULT_SCHEDULE_FILENAME, EntryState, ScheduleStore, open_store
from celeriac.config.transport_keys import RedisClientOptions
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

DEFAULT_MAX_INTERVAL: Final = 300.0
#: Never return a sleep shorter than this, so a schedule that keeps answering "0 s" cannot spin.
MIN_DELAY: Final = 0.01
#: How soon a failed send (or a failed tick) is retried, at most.
RETRY_DELAY: Final = 5.0


@dataclass(frozen=True, slots=True)
class BeatOptions:
    """Beat's settings, frozen at start.

    Attributes:
        max_interval: the longest sleep between two looks at the schedule
            (``beat_max_loop_interval``, default 300 s as Celery's).
        schedule_filename: the run-state file; None keeps run state in memory only.
    """

    max_interval: float = DEFAULT_MAX_INTERVAL
    schedule_filename: str | None = DEFAULT_SCHEDULE_FILENAME

    @classmethod
    def from_conf(
        cls,
        conf: Any,
        schedule_filename: str | None = None,
        max_interval: float | None = None,
        default_max_interval: float = DEFAULT_MAX_INTERVAL,
    ) -> BeatOptions:
        """Explicit values (CLI flags) first, then ``beat_*`` settings, then the defaults
        (``default_max_interval``: the scheduler class's, see
        :attr:`Scheduler.default_max_interval`)."""
        interval = max_interval or conf.get("beat_max_loop_interval") or default_max_interval
        filename = (
            schedule_filename or conf.get("beat_schedule_filename") or DEFAULT_SCHEDULE_FILENAME
        )
        return cls(max_interval=float(interval), schedule_filename=str(filename))

    @property
    def lease_ttl(self) -> float:
        """How long a lease lasts without renewal (see :mod:`celeriac.beat.lock`)."""
        return 1.5 * self.max_interval

    @property
    def active_delay(self) -> float:
        """Longest sleep of the active beat: renews the lease with a full interval to spare."""
        return self.max_interval / 2

    @property
    def standby_delay(self) -> float:
        """How often a standby tries to take the lease: takeover within 1.75 x max_interval."""
        return self.max_interval / 4

    @property
    def retry_delay(self) -> float:
        return min(RETRY_DELAY, self.max_interval)


class Scheduler(CelerySchedulerAPI):
    """Sends due periodic tasks; one instance per beat (``celeriac beat`` or ``worker -B``).

    Celery's constructor and overridable methods (:mod:`celeriac.beat.celery_api`), on
    celeriac's engine: entries from schedule sources, run state in a store, one active beat per
    broker through a lease.

    Args:
        app: the app whose ``send_task`` sends and whose settings and broker are used.
        schedule: initial entries (name -> entry or ``beat_schedule``-style dict), as Celery's.
        max_interval: seconds; else ``beat_max_loop_interval``, else the class's default.
        Producer: Celery's producer class; celeriac sends through the app's producer, so only
            None is accepted.
        lazy: do not call ``setup_schedule()`` (Celery's introspection mode).
        sync_every_tasks: call ``sync()`` after this many sends; else ``beat_sync_every``.
        schedule_filename: the run-state file or URL (Celery passes it as a keyword too).
        options: frozen settings; default from the arguments above and ``app.conf``.
        clock: returns the current time as an aware datetime; tests pass a fake one. It also
            drives the schedules and the SQLite/memory lease expiry.
        store: run-state store; default the SQLite ``options.schedule_filename``.
        lock: the lease; default chosen from the broker URL (:func:`~celeriac.beat.lock.lock_for`).
        sources: entry sources; default :meth:`default_sources`.
    """

    #: The loop interval when neither ``--max-interval`` nor ``beat_max_loop_interval`` is set;
    #: a scheduler whose entries change at run time sets a shorter one.
    default_max_interval: ClassVar[float] = DEFAULT_MAX_INTERVAL

    def __init__(
        self,
        app: Celery,
        schedule: Mapping[str, Any] | BeatOptions | None = None,
        max_interval: float | None = None,
        Producer: Any = None,
        lazy: bool = False,
        sync_every_tasks: int | None = None,
        *,
        schedule_filename: str | None = None,
        options: BeatOptions | None = None,
        clock: Clock | None = None,
        store: ScheduleStore | None = None,
        lock: BeatLock | None = None,
        sources: Sequence[ScheduleSource] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(schedule, BeatOptions):  # celeriac's own positional form
            options, schedule = schedule, None
        if Producer is not None:
            raise ImproperlyConfigured(
                "celeriac's beat sends through the app's producer; Producer= is not supported")
        self.app = app
        self.options = options or BeatOptions.from_conf(
            app.conf, schedule_filename, max_interval, self._class_max_interval())
        self.clock = clock or utc_now
        self.context = ScheduleContext(app_timezone(app.conf), self.clock, app.conf)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store: ScheduleStore = store if store is not None else self._default_store()
        self.lock: BeatLock = (
            lock if lock is not None else lock_for(app, holder, self._epoch, self.store)
        )
        self.sources = list(sources) if sources is not None else self.default_sources()
        self.data = {}
        self.sync_every_tasks = (app.conf.get("beat_sync_every") or None
                                 if sync_every_tasks is None else sync_every_tasks)
        self._heap = None
        self.old_schedulers = None
        self._sourced: set[str] = set()
        self.active = False
        self._versions: list[Hashable] | None = None
        self._renewed_at = 0.0
        if schedule:
            self.update_from_dict(schedule)
        if not lazy:
            self.setup_schedule()

    def _class_max_interval(self) -> float:
        """A subclass's ``max_interval = N`` class attribute (Celery's spelling), else
        ``default_max_interval``."""
        declared = getattr(type(self), "max_interval", None)
        return float(declared) if isinstance(declared, int | float) else self.default_max_interval

    @property
    def entries(self) -> dict[str, Any]:
        """The entries by name (the ``schedule``)."""
        return self.schedule  # type: ignore[no-any-return]

    def default_sources(self) -> list[ScheduleSource]:
        """The app's ``beat_schedule`` and ``add_periodic_task`` entries; extend in a subclass
        (``-S``) to add e.g. a :class:`~celeriac.beat.sources.SqliteScheduleSource`."""
        return [StaticConfigSource(self.app)]

    def _default_store(self) -> ScheduleStore:
        # The broker's transport already reported keys it does not read: picked quietly here.
        redis = RedisClientOptions.build(self.app.conf.get("broker_transport_options"))
        return open_store(self.options.schedule_filename, redis)

    def _epoch(self) -> float:
        return self.clock().timestamp()

    # -- one tick ---------------------------------------------------------------------------
    def tick(self, event_t: Any = event_t, min: Callable[..., Any] = min,
             heappop: Callable[[list[Any]], Any] = heapq.heappop,
             heappush: Callable[[list[Any], Any], None] = heapq.heappush) -> float:
        """Send every due entry (if this beat holds the lease); return seconds to sleep.

        The arguments are Celery's (the heap's item type and heap functions, for subclasses).
        """
        now = self.clock()
        self._refresh(now)
        if not self._hold_lease():
            return float(self.options.standby_delay)
        schedule = self.schedule
        if self._heap is None or not self.schedules_equal(self.old_schedulers, schedule):
            self.old_schedulers = copy.copy(schedule)
            self.populate_heap(event_t)
        next_check = self._send_due(event_t, heappop, heappush)
        return float(max(min(next_check, self.options.active_delay), MIN_DELAY))

    def _refresh(self, now: datetime) -> None:
        """Reload the entries when any source's change marker moved."""
        versions = [source.version() for source in self.sources]
        if versions == self._versions:
            return
        loaded: dict[str, ScheduleEntry] = {}
        for source in self.sources:
            loaded.update(source.load())
        self._adopt(loaded, now)
        self._versions = versions

    def _adopt(self, loaded: dict[str, ScheduleEntry], now: datetime) -> None:
        """Merge ``loaded`` into the schedule, replacing what the sources gave before; run
        state from memory, else the store, else now. Entries added through the Celery API
        (``add``, ``update_from_dict``, ``setup_schedule``) stay."""
        data = self.data
        stored = self.store.load()
        fresh: dict[str, EntryState] = {}
        for name, entry in loaded.items():
            entry.schedule = bind_schedule(entry.schedule, self.context)
            previous = data.get(name)
            state = stored.get(name)
            if previous is not None and previous.last_run_at is not None:
                entry.last_run_at = previous.last_run_at
                entry.total_run_count = previous.total_run_count
            elif state is not None:
                entry.last_run_at, entry.total_run_count = state.last_run_at, state.total_run_count
            else:
                entry.last_run_at = now
                fresh[name] = EntryState(now, 0)
            if previous is None:
                logger.debug("beat: entry %s loaded: %r", name, entry)
            elif not previous.same_definition(entry):
                logger.info("beat: entry %s changed: %r", name, entry)
        for name in self._sourced - set(loaded):
            logger.info("beat: entry %s removed or disabled", name)
            data.pop(name, None)
        data.update(loaded)
        self._sourced = set(loaded)
        self._heap = None
        if self.active:
            self.store.save(fresh, forget=set(stored) - set(data))

    def _hold_lease(self) -> bool:
        """Take or renew the lease; adopt the stored run state when this beat takes over."""
        try:
            held = self.lock.acquire(self.options.lease_ttl)
        except Exception:  # service boundary: a lease we cannot confirm is a lease we lack
            logger.warning(
                "beat: cannot reach the lease (%r); not sending", self.lock, exc_info=True
            )
            held = False
        if held:
            self._renewed_at = self._epoch()
            if not self.active:
                self._take_over()
        elif self.active:
            logger.warning("beat: lost the lease to another beat; standing by")
        self.active = held
        return held

    def _take_over(self) -> None:
        """Continue from the run state the previous holder saved (when it shares our store)."""
        stored = self.store.load()
        for name, entry in self.entries.items():
            state = stored.get(name)
            if state is not None:
                entry.last_run_at, entry.total_run_count = state.last_run_at, state.total_run_count
        self._heap = None
        self.store.save(
            {
                name: EntryState(e.last_run_at, e.total_run_count)
                for name, e in self.entries.items()
                if name not in stored and e.last_run_at
            },
            forget=set(stored) - set(self.entries),
        )
        logger.info(
            "beat: %s is now the active scheduler (%d entries)", self.lock.holder, len(self.entries)
        )

    def _lease_still_valid(self) -> bool:
        """Renew before a send when half the lease has passed since the last renewal."""
        if self._epoch() - self._renewed_at < self.options.lease_ttl / 2:
            return True
        return self._hold_lease()

    def _send_due(self, event_t: Any, heappop: Callable[[list[Any]], Any],
                  heappush: Callable[[list[Any], Any], None]) -> float:
        """Every entry in heap order: ``is_due``, then ``apply_entry`` and ``reserve`` when
        due; the store gets the new run state of the entries sent."""
        next_check = float(self.options.max_interval)
        sent: dict[str, EntryState] = {}
        heap, looked_at = self._heap or [], []
        while heap:
            event = heappop(heap)
            entry = event[2]
            try:
                due, wait = self.is_due(entry)
            except Exception:  # one broken schedule must not stop the others
                due, wait = self._is_due_failed(entry)
            if due:
                if not self._lease_still_valid():
                    heappush(heap, event)
                    break
                if self.apply_entry(entry, producer=self.producer) is not False:
                    entry = self.reserve(entry)
                    sent[entry.name] = EntryState(entry.last_run_at, entry.total_run_count)
                else:
                    wait = min(wait, self.options.retry_delay)
            next_check = min(next_check, wait)
            looked_at.append(event_t(self._when(entry, wait), event[1], entry))
        for event in looked_at:
            heappush(heap, event)
        self._heap = heap
        if sent:
            self.store.save(sent)
        return next_check

    def sync(self) -> None:
        """Save every entry's run state to the store (only the active beat writes)."""
        if self.active:
            self.store.save({
                n: EntryState(e.last_run_at, e.total_run_count)
                for n, e in self.entries.items() if e.last_run_at
            })

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then release the lease and close (see :meth:`close`)."""
        logger.info(
            "beat: starting as %s (max interval %.1f s, lease %.1f s)",
            self.lock.holder,
            self.options.max_interval,
            self.options.lease_ttl,
        )
        try:
            while not stop.is_set():
                stop.wait(self._safe_tick())
        finally:
            self.close()

    def _safe_tick(self) -> float:
        try:
            return self.tick()
        except Exception:  # service boundary: log and try again shortly
            logger.error(
                "beat: tick failed; retrying in %.1f s", self.options.retry_delay, exc_info=True
            )
            return self.options.retry_delay

    def close(self) -> None:
        """Save run state and release the lease, so a standby takes over at its next try."""
        try:
            self.sync()
            if self.active:
                self.lock.release()
        except Exception:  # shutting down: report, and still close what we can
            logger.warning("beat: could not save state or release the lease", exc_info=True)
        self.active = False
        for closer in (self.store.close, self.lock.close, *(s.close for s in self.sources)):
            try:
                closer()
            except Exception:
                logger.warning("beat: error while closing", exc_info=True)


#: Celery's name for the default scheduler (``celery.beat:PersistentScheduler``): its run
#: state is the ``-s`` file, SQLite here rather than Celery's shelve (there is no ``_store``).
PersistentScheduler = Scheduler
