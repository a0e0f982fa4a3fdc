"""Next-occurrence math for crontab schedules: pure functions over expanded field sets.

Celery computes the next run by patching fields of the last run time (``ffwd``) and branching on
which fields are restricted. The result is always "the first wall-clock minute that matches every
field, strictly after the minute of the last run"; this module computes exactly that, by walking the
calendar field by field (month, then day, then hour, then minute), so it is short, obviously
terminating and easy to check against Celery's output.

Time zones. A crontab names *local wall-clock* times in the schedule's zone, so the search happens
on naive local times and only the answer is mapped back to an instant:

* a wall time that does not exist (the hour skipped when clocks spring forward) is skipped: a job at
  02:30 every day in Europe/Berlin does not run on the last Sunday of March. (Celery instead runs it
  at 03:30.)
* a wall time that occurs twice (the hour repeated when clocks fall back) runs once, at its first
  occurrence. If the last run itself happened during the second pass, the search stays in the second
  pass instead of returning a moment already in the past. (Celery returns the first-pass time there,
  which is overdue, so Celery re-runs the entry on every beat tick until the repeated hour ends.)
"""

from __future__ import annotations

from bisect import bisect_left
from calendar import monthrange
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from celeriac.exceptions import CeleriacError
from celeriac.utils.time import exists, is_ambiguous, to_utc

#: Any possible date pattern recurs within a 400-year Gregorian cycle (146097 days = 20871 weeks).
_SEARCH_YEARS = 400


class CrontabNeverDue(CeleriacError):
    """No date satisfies the crontab's day-of-month, month and day-of-week fields together."""


@dataclass(frozen=True)
class CronFields:
    """The expanded, sorted values of the five crontab fields (Sunday is day 0)."""

    minute: tuple[int, ...]
    hour: tuple[int, ...]
    day_of_week: frozenset[int]
    day_of_month: tuple[int, ...]
    month_of_year: tuple[int, ...]

    @classmethod
    def of(
        cls,
        minute: Set[int],
        hour: Set[int],
        day_of_week: Set[int],
        day_of_month: Set[int],
        month_of_year: Set[int],
    ) -> CronFields:
        return cls(
            tuple(sorted(minute)),
            tuple(sorted(hour)),
            frozenset(day_of_week),
            tuple(sorted(day_of_month)),
            tuple(sorted(month_of_year)),
        )


def _first_at_or_after(values: tuple[int, ...], value: int) -> int | None:
    index = bisect_left(values, value)
    return values[index] if index < len(values) else None


def _day_matches(fields: CronFields, day: datetime) -> bool:
    return (
        day.day in fields.day_of_month
        and day.isoweekday() % 7 in fields.day_of_week
        and day.month in fields.month_of_year
    )


def _next_day(fields: CronFields, start: datetime) -> datetime:
    """Midnight of the first matching date on or after ``start``'s date."""
    year, month, day = start.year, start.month, start.day
    for _ in range(_SEARCH_YEARS * 12):
        if month in fields.month_of_year:
            last = monthrange(year, month)[1]
            candidate_day = _first_at_or_after(fields.day_of_month, day)
            while candidate_day is not None and candidate_day <= last:
                candidate = datetime(year, month, candidate_day)
                if candidate.isoweekday() % 7 in fields.day_of_week:
                    return candidate
                candidate_day = _first_at_or_after(fields.day_of_month, candidate_day + 1)
        year, month, day = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
    raise CrontabNeverDue(
        "this crontab never runs: no date matches its day_of_month, month_of_year "
        "and day_of_week together"
    )


def next_wall_time(fields: CronFields, after: datetime) -> datetime:
    """The first matching naive wall time strictly after the minute of ``after`` (seconds 0)."""
    current = after.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
    while True:
        if not _day_matches(fields, current):
            current = _next_day(fields, current)
        hour = _first_at_or_after(fields.hour, current.hour)
        if hour is None:
            current = current.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if hour != current.hour:
            current = current.replace(hour=hour, minute=0)
        minute = _first_at_or_after(fields.minute, current.minute)
        if minute is None:
            current = current.replace(minute=0) + timedelta(hours=1)
            continue
        return current.replace(minute=minute)


def next_run_at(fields: CronFields, last_run_at: datetime, tz: tzinfo) -> datetime:
    """The instant (aware, in ``tz``) of the first run after ``last_run_at`` (which must be aware).

    Non-existent wall times are skipped; a repeated wall time maps to its first occurrence unless
    that is not after ``last_run_at`` (the last run was in the second pass), in which case the
    second occurrence is used.
    """
    local = last_run_at.astimezone(tz)
    last_utc = to_utc(last_run_at)
    wall = next_wall_time(fields, local)
    while True:
        candidate = wall.replace(tzinfo=tz)
        if not exists(candidate):
            wall = next_wall_time(fields, wall)
            continue
        if is_ambiguous(candidate) and to_utc(candidate) <= last_utc:
            candidate = candidate.replace(fold=1)
        return candidate
