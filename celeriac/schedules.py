"""Compat import path for ``celery.schedules``: ``from celeriac.schedules import crontab``."""

from __future__ import annotations

from celeriac.beat.base import BaseSchedule, Schedule, schedstate
from celeriac.beat.crontab import ParseException, crontab, crontab_parser
from celeriac.beat.interval import maybe_schedule, schedule
from celeriac.beat.solar import solar

__all__ = [
    "BaseSchedule",
    "ParseException",
    "Schedule",
    "crontab",
    "crontab_parser",
    "maybe_schedule",
    "schedstate",
    "schedule",
    "solar",
]
