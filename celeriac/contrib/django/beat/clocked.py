"""``clocked``: run once at a given moment (django-celery-beat's ClockedSchedule).

celeriac's beat has interval, crontab and solar schedules; this is the one kind only the
database schedule has. A clocked entry is always one-off, so after its run the entry disables
itself (:mod:`celeriac.contrib.django.beat.entries`) and the schedule never fires twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celeriac.beat.base import BaseSchedule, NowFun, schedstate
from celeriac.utils.time import maybe_make_aware

#: "Do not look again for this entry" (django-celery-beat's NEVER_CHECK_TIMEOUT): a day.
NEVER_CHECK_TIMEOUT = 24 * 3600.0


class clocked(BaseSchedule):
    """Due once ``clocked_time`` has passed; naive times are UTC."""

    def __init__(self, clocked_time: datetime, nowfun: NowFun | None = None,
                 app: Any = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.clocked_time = maybe_make_aware(clocked_time)

    def remaining_estimate(self, last_run_at: datetime | None) -> timedelta:
        return self.clocked_time - self.now()

    def is_due(self, last_run_at: datetime | None) -> schedstate:
        remaining = max(self.remaining_estimate(last_run_at).total_seconds(), 0.0)
        if remaining == 0:
            return schedstate(True, NEVER_CHECK_TIMEOUT)
        return schedstate(False, remaining)

    def __repr__(self) -> str:
        return f"<clocked: {self.clocked_time}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, clocked):
            return self.clocked_time == other.clocked_time
        return NotImplemented
