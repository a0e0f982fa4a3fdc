"""``schedule(run_every)``: run every N seconds, with Celery's exact semantics.

The interval is *elapsed* time measured from the last run, so a DST change never stretches or
shrinks it — except with ``relative=True``, where the deadline is rounded down to the interval's
unit on the local clock (every hour on the hour, every day at midnight); day-sized relative
intervals then follow calendar days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from celeriac.beat.base import BaseSchedule, NowFun, schedstate
from celeriac.utils.time import humanize_seconds, remaining


def maybe_timedelta(delta: float | timedelta) -> timedelta:
    """Seconds as a :class:`timedelta`; a timedelta is returned unchanged."""
    if isinstance(delta, timedelta):
        return delta
    if isinstance(delta, bool) or not isinstance(delta, int | float):
        raise TypeError(f"run_every must be a number of seconds or a timedelta, not {delta!r}")
    return timedelta(seconds=delta)


class schedule(BaseSchedule):
    """Run every ``run_every`` (a :class:`timedelta` or a number of seconds).

    Arguments:
        run_every: the interval.
        relative: round each deadline down to the interval's unit (minute, hour or day), local time.
        nowfun: returns the current time; defaults to the app's clock or the system clock.
        app: the app whose ``timezone`` and clock are used when ``tz``/``nowfun`` are not given.
        tz: the zone ``relative`` rounding happens in (celeriac extension; Celery uses the app's).
    """

    def __init__(
        self,
        run_every: float | timedelta,
        relative: bool = False,
        nowfun: NowFun | None = None,
        app: Any = None,
        *,
        tz: str | tzinfo | None = None,
    ) -> None:
        self.run_every = maybe_timedelta(run_every)
        self.relative = relative
        super().__init__(nowfun=nowfun, app=app, tz=tz)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Real time until ``last_run_at + run_every`` (rounded if relative); < 0 if overdue."""
        return remaining(
            self.maybe_make_aware(last_run_at),
            self.run_every,
            self.maybe_make_aware(self.now()),
            self.relative,
        )

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(True, interval)`` when the interval has passed, else ``(False, seconds_left)``.

        A relative schedule that is due realigns its next check to the next rounded boundary (which
        can differ from the interval across DST or after a late run) instead of adding a whole
        interval.
        """
        last_run_at = self.maybe_make_aware(last_run_at)
        remaining_s = max(self.remaining_estimate(last_run_at).total_seconds(), 0)
        if remaining_s != 0:
            return schedstate(is_due=False, next=remaining_s)
        next_s = self.seconds
        if self.relative:
            now = self.maybe_make_aware(self.now()).astimezone(last_run_at.tzinfo)
            next_s = self.remaining_estimate(now).total_seconds()
            if next_s <= 0:
                next_s = self.seconds
        return schedstate(is_due=True, next=next_s)

    @property
    def seconds(self) -> float:
        """The interval in seconds (never negative)."""
        return max(self.run_every.total_seconds(), 0)

    @property
    def human_seconds(self) -> str:
        """The interval in words, e.g. ``'10.00 seconds'``."""
        return humanize_seconds(self.seconds)

    def __repr__(self) -> str:
        return f"<freq: {self.human_seconds}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, schedule):
            return self.run_every == other.run_every
        return self.run_every == other

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.run_every, self.relative, self.nowfun)


def maybe_schedule(
    s: float | timedelta | BaseSchedule | None, relative: bool = False, app: Any = None
) -> BaseSchedule | None:
    """A schedule from a number of seconds, a timedelta, or a schedule (whose ``app`` is then set).

    Unlike Celery, an existing schedule keeps its app when ``app`` is None: celeriac has no implicit
    "current app" to fall back on, so clearing it would silently switch the schedule to UTC.
    """
    if s is None:
        return None
    if isinstance(s, int | float | timedelta):
        return schedule(s, relative, app=app)
    if app is not None:
        s.app = app
    return s
