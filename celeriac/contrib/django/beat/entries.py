"""Between ``PeriodicTask`` rows and beat's :class:`~celeriac.beat.entry.ScheduleEntry`.

:class:`ModelEntry` is an entry that remembers its row and applies django-celery-beat's rules
before asking its schedule: nothing before ``start_time``; past ``expires`` the row disables
itself; a one-off row that has run disables itself. :func:`save_entry` goes the other way, for
``beat_schedule`` entries synced into the table at beat start (django-celery-beat's
``update_from_dict``).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any, overload

from celeriac.beat.base import BaseSchedule, Schedule
from celeriac.beat.crontab import crontab
from celeriac.beat.entry import ScheduleEntry, utc_now
from celeriac.beat.interval import schedule as interval_schedule
from celeriac.beat.solar import solar
from celeriac.contrib.django.beat.clocked import NEVER_CHECK_TIMEOUT, clocked
from celeriac.contrib.django.beat.models import (
    SCHEDULE_FIELDS,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

logger = logging.getLogger(__name__)

#: A row never run and with a ``start_time`` starts this far in the past, so it is due at its
#: start time (django-celery-beat's 30 years).
_LONG_AGO = timedelta(days=365 * 30)
_ROUTING_OPTIONS = ("queue", "exchange", "routing_key", "priority")


class ModelEntry(ScheduleEntry):
    """A :class:`ScheduleEntry` read from a ``PeriodicTask`` row (see the module docstring)."""

    def __init__(self, *args: Any, row_id: int = 0, one_off: bool = False,
                 start_time: datetime | None = None, expires_at: datetime | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_id = row_id
        self.one_off = one_off
        self.start_time = start_time
        self.expires_at = expires_at

    def is_due(self) -> tuple[bool, float]:
        now = self.schedule.now() if isinstance(self.schedule, BaseSchedule) else utc_now()
        if self.start_time is not None and now < self.start_time:
            return False, float(math.ceil((self.start_time - now).total_seconds()))
        if self.expires_at is not None and now >= self.expires_at:
            logger.info("beat: %s expired at %s; disabling it", self.name, self.expires_at)
            disable_row(self.row_id)
            return False, NEVER_CHECK_TIMEOUT
        if self.one_off and self.total_run_count > 0:
            logger.info("beat: one-off %s has run; disabling it", self.name)
            disable_row(self.row_id)
            return False, NEVER_CHECK_TIMEOUT
        return super().is_due()


def disable_row(row_id: int) -> None:
    """Disable a row through ``save()``, so the change marker moves and beat drops the entry
    (a one-off's run count resets, as django-celery-beat does)."""
    row = PeriodicTask.objects.filter(pk=row_id).first()
    if row is not None and row.enabled:
        row.enabled = False
        if row.one_off:
            row.total_run_count = 0
        row.save()


def entry_from_row(row: PeriodicTask) -> ModelEntry:
    """The entry for ``row`` (its schedule rows already loaded).

    Raises:
        ValueError: no schedule, or ``args``/``kwargs``/``headers`` that are not JSON.
    """
    if row.scheduler is None:
        raise ValueError("has no schedule (set one of interval, crontab, solar, clocked)")
    options: dict[str, Any] = {
        key: getattr(row, key) for key in _ROUTING_OPTIONS if getattr(row, key) is not None
    }
    if row.expires_:
        options["expires"] = row.expires_
    headers = json.loads(row.headers or "{}")
    headers["periodic_task_name"] = row.name
    options["headers"] = headers
    return ModelEntry(
        name=row.name,
        task=row.task,
        schedule=row.schedule,
        args=tuple(json.loads(row.args or "[]")),
        kwargs=dict(json.loads(row.kwargs or "{}")),
        options=options,
        last_run_at=last_run_of(row),
        total_run_count=row.total_run_count,
        row_id=row.pk,
        one_off=row.one_off,
        start_time=from_db_time(row.start_time),
        expires_at=from_db_time(row.expires),
    )


@overload
def from_db_time(value: datetime) -> datetime: ...
@overload
def from_db_time(value: None) -> None: ...
def from_db_time(value: datetime | None) -> datetime | None:
    """A column's time as beat needs it: aware. Naive values (``USE_TZ = False``) are in
    Django's ``TIME_ZONE``, as Django reads them."""
    if value is None or value.tzinfo is not None:
        return value
    from django.utils import timezone

    aware: datetime = timezone.make_aware(value)
    return aware


def to_db_time(value: datetime) -> datetime:
    """Beat's aware time as the column takes it: naive in ``TIME_ZONE`` when ``USE_TZ`` is off
    (Django refuses aware times then)."""
    from django.conf import settings
    from django.utils import timezone

    if settings.USE_TZ:
        return value
    naive: datetime = timezone.make_naive(value)
    return naive


def last_run_of(row: PeriodicTask) -> datetime:
    """The run to count from: the last one; for a row never run, when it was last changed
    (30 years earlier with a ``start_time``, so it runs at that time), as django-celery-beat."""
    last: datetime | None = row.last_run_at
    if last is not None:
        return from_db_time(last)
    changed: datetime = from_db_time(row.date_changed) or utc_now()
    return changed - _LONG_AGO if row.start_time is not None else changed


def schedule_row(value: Schedule) -> tuple[str, Any]:
    """The schedule row (found or created) for a celeriac schedule, and its field name.

    Raises:
        ValueError: a schedule type the table cannot hold (a custom schedule object).
    """
    if isinstance(value, interval_schedule):
        seconds = max(int(value.run_every.total_seconds()), 1)
        row = IntervalSchedule.objects.filter(every=seconds, period="seconds").first()
        return "interval", row or IntervalSchedule.objects.create(every=seconds,
                                                                  period="seconds")
    if isinstance(value, crontab):
        spec = {"minute": str(value._orig_minute), "hour": str(value._orig_hour),
                "day_of_week": str(value._orig_day_of_week),
                "day_of_month": str(value._orig_day_of_month),
                "month_of_year": str(value._orig_month_of_year), "timezone": str(value.tz)}
        return "crontab", (CrontabSchedule.objects.filter(**spec).first()
                           or CrontabSchedule.objects.create(**spec))
    if isinstance(value, solar):
        solar_spec = {"event": value.event, "latitude": value.lat, "longitude": value.lon}
        return "solar", SolarSchedule.objects.get_or_create(**solar_spec)[0]
    if isinstance(value, clocked):
        return "clocked", ClockedSchedule.objects.get_or_create(clocked_time=value.clocked_time)[0]
    raise ValueError(f"cannot store schedule {value!r} in the database")


def save_entry(entry: ScheduleEntry) -> Any:
    """Create or update the row named ``entry.name`` from a ``beat_schedule`` entry."""
    field, row = schedule_row(entry.schedule)
    options = dict(entry.options)
    defaults: dict[str, Any] = {name: None for name in SCHEDULE_FIELDS}
    defaults[field] = row
    defaults.update(
        task=entry.task,
        args=json.dumps(list(entry.args)),
        kwargs=json.dumps(dict(entry.kwargs)),
        queue=options.get("queue"),
        exchange=options.get("exchange"),
        routing_key=options.get("routing_key"),
        priority=options.get("priority"),
        headers=json.dumps(options.get("headers") or {}),
        expire_seconds=options.get("expire_seconds"),
    )
    task, _ = PeriodicTask.objects.update_or_create(name=entry.name, defaults=defaults)
    return task
