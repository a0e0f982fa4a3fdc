"""celeriac.beat: periodic task scheduling (the schedules here; the scheduler service alongside).

The schedule types and their import names match ``celery.schedules``; ``celeriac.schedules``
re-exports them under that compat path.
"""

from __future__ import annotations

from celeriac.beat.base import BaseSchedule, Schedule, schedstate
from celeriac.beat.crontab import ParseException, crontab, crontab_parser
from celeriac.beat.crontab_schedule import CrontabNeverDue
from celeriac.beat.interval import maybe_schedule, schedule
from celeriac.beat.solar import solar

__all__ = [
    "BaseSchedule",
    "CrontabNeverDue",
    "ParseException",
    "Schedule",
    "crontab",
    "crontab_parser",
    "maybe_schedule",
    "schedstate",
    "schedule",
    "solar",
]
