"""``DatabaseScheduler``: celeriac's beat reading its entries from django-celery-beat's tables.

It is celeriac's :class:`~celeriac.beat.scheduler.Scheduler` (the same tick, the same lease,
the same send path) with two parts swapped for the database:

* the entries come from :class:`DatabaseScheduleSource`: the enabled ``PeriodicTask`` rows.
  Its change marker is ``PeriodicTasks.last_update`` (moved by every save or delete through the
  ORM or the admin), read every tick, so beat picks up a new, changed or disabled task within
  half of ``beat_max_loop_interval`` (5 s here, as django-celery-beat, unless set). The
  table is also reread every 5 minutes, for rows changed by raw SQL without the marker.
* the run state (``last_run_at``, ``total_run_count``) lives in the rows themselves
  (:class:`DatabaseRunStateStore`), written with ``UPDATE`` so beat's own bookkeeping does not
  move the marker. Every beat sharing the database sees it; a standby taking over the lease
  continues exactly.

At start the app's ``beat_schedule`` (and ``add_periodic_task`` entries) are written into the
table, created or updated by name, as django-celery-beat does; removing one from the settings
does not delete its row. The lease is chosen by the broker as for the default scheduler;
with a broker that has none (AMQP) it lives in the ``-s`` schedule file.

Django is set up here (``django.setup()``) when the app registry is not ready yet, so a plain
``celeriac -A proj beat`` works with ``DJANGO_SETTINGS_MODULE`` set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from celeriac.beat.scheduler import Scheduler
from celeriac.beat.sources import ScheduleSource, StaticConfigSource
from celeriac.beat.store import EntryState

if TYPE_CHECKING:
    from celeriac.beat.entry import ScheduleEntry

logger = logging.getLogger(__name__)

#: django-celery-beat's default loop interval: it must look at the table often.
DATABASE_MAX_INTERVAL: Final = 5.0
#: Reread the table at least this often even when the change marker did not move.
FULL_SYNC_INTERVAL: Final = 300.0


def ensure_django_ready() -> None:
    """``django.setup()`` unless the app registry is ready (the worker's fix-up may have run)."""
    from django.apps import apps

    if not apps.ready:
        import django

        django.setup()


class DatabaseScheduleSource:
    """The enabled ``PeriodicTask`` rows as beat entries (see the module docstring)."""

    def version(self) -> Hashable:
        from django.db import close_old_connections

        from celeriac.contrib.django.beat.models import PeriodicTasks

        close_old_connections()
        return PeriodicTasks.last_change(), int(time.time() // FULL_SYNC_INTERVAL)

    def load(self) -> dict[str, ScheduleEntry]:
        from celeriac.contrib.django.beat.entries import entry_from_row
        from celeriac.contrib.django.beat.models import PeriodicTask

        entries: dict[str, ScheduleEntry] = {}
        for row in PeriodicTask.objects.enabled():
            try:
                entries[row.name] = entry_from_row(row)
            except (ValueError, TypeError) as exc:
                logger.error("beat: skipping periodic task %r: %s", row.name, exc)
        return entries

    def close(self) -> None:
        from django.db import connection

        connection.close()


class DatabaseRunStateStore:
    """Run state in the ``PeriodicTask`` rows (see the module docstring).

    Args:
        path: the ``-s`` schedule file; it only hosts the lease for brokers without one (a
            ``-s`` URL hosts none here: such a beat warns that it cannot see other beats).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path and "://" not in path else None

    def load(self) -> dict[str, EntryState]:
        from celeriac.contrib.django.beat.entries import last_run_of
        from celeriac.contrib.django.beat.models import PeriodicTask

        return {
            row.name: EntryState(last_run_of(row), row.total_run_count)
            for row in PeriodicTask.objects.filter(enabled=True).only(
                "name", "last_run_at", "total_run_count", "date_changed", "start_time")
        }

    def save(self, states: Mapping[str, EntryState], forget: Iterable[str] = ()) -> None:
        """Write ``states``; ``forget`` needs nothing (disabling a row already clears it)."""
        from django.db import transaction

        from celeriac.contrib.django.beat.entries import to_db_time
        from celeriac.contrib.django.beat.models import PeriodicTask

        if not states:
            return
        with transaction.atomic():
            for name, state in states.items():
                PeriodicTask.objects.filter(name=name).update(
                    last_run_at=to_db_time(state.last_run_at),
                    total_run_count=state.total_run_count)

    def close(self) -> None:
        return None


class DatabaseScheduler(Scheduler):
    """Beat with its schedule in django-celery-beat's tables (see the module docstring).

    Selected by ``--scheduler celeriac.contrib.django.beat.schedulers:DatabaseScheduler``,
    ``beat_scheduler`` / ``CELERY_BEAT_SCHEDULER``, or django-celery-beat's own path
    ``django_celery_beat.schedulers:DatabaseScheduler``.
    """

    default_max_interval = DATABASE_MAX_INTERVAL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ensure_django_ready()
        super().__init__(*args, **kwargs)
        self.sync_config_entries()
        # Built on the caller's thread; ``worker -B`` then ticks on another one, with its own
        # connection: do not leave this one open for the worker's lifetime.
        from django.db import connection

        connection.close()

    def _default_store(self) -> DatabaseRunStateStore:
        return DatabaseRunStateStore(self.options.schedule_filename)

    def default_sources(self) -> list[ScheduleSource]:
        return [DatabaseScheduleSource()]

    def sync_config_entries(self) -> None:
        """Write ``beat_schedule`` and ``add_periodic_task`` entries into the table."""
        from celeriac.contrib.django.beat.entries import save_entry

        for name, entry in StaticConfigSource(self.app).load().items():
            try:
                save_entry(entry)
            except Exception:  # one bad entry must not keep the others out
                logger.exception("beat: cannot add entry %r to the database schedule", name)
