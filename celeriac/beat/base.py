"""What the beat scheduler needs from a schedule, and the shared plumbing of the built-in ones.

The scheduler only ever asks two questions — "is this entry due, and when should I look again?" and
"how long until it runs?" — so :class:`Schedule` is a two-method :class:`~typing.Protocol`: anything
with those methods (a django-celery-beat style custom schedule, a test double) plugs in without
subclassing.

:class:`BaseSchedule` holds what every built-in schedule shares: where "now" comes from (``nowfun``,
else the app's clock, else the system clock in UTC) and which time zone the schedule is evaluated in
(explicit ``tz``, else ``app.timezone``, else UTC). The app is duck-typed (``timezone``, ``now()``,
``conf``), so this module needs nothing from ``celeriac.app`` and a schedule works without any app
at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple, Protocol, runtime_checkable

from celeriac.utils.time import UTC, get_timezone, maybe_make_aware

NowFun = Callable[[], datetime]


class schedstate(NamedTuple):
    """``(is_due, next)``: run now?, and seconds until the scheduler should check again."""

    is_due: bool
    next: float


@runtime_checkable
class Schedule(Protocol):
    """The two questions the beat scheduler asks of a schedule."""

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        """``(due, seconds_until_next_check)``; ``(True, 20)`` means run now, look again in 20 s."""
        ...

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Real time from now until the next run after ``last_run_at`` (negative when overdue)."""
        ...


class BaseSchedule:
    """Clock and time-zone resolution shared by ``schedule``, ``crontab`` and ``solar``."""

    def __init__(
        self,
        nowfun: NowFun | None = None,
        app: Any = None,
        tz: str | tzinfo | None = None,
    ) -> None:
        self.nowfun = nowfun
        self.app = app
        self._tz = get_timezone(tz) if tz is not None else None

    @property
    def tz(self) -> tzinfo:
        """The zone the schedule is read in: explicit ``tz``, else ``app.timezone``, else UTC."""
        if self._tz is not None:
            return self._tz
        app_tz = getattr(self.app, "timezone", None)
        return get_timezone(app_tz) if app_tz is not None else UTC

    @tz.setter
    def tz(self, value: str | tzinfo | None) -> None:
        self._tz = get_timezone(value) if value is not None else None

    def now(self) -> datetime:
        """The current time: ``nowfun()``, else ``app.now()``, else the system clock (UTC)."""
        if self.nowfun is not None:
            return self.nowfun()
        app_now = getattr(self.app, "now", None)
        if callable(app_now):
            value = app_now()
            if isinstance(value, datetime):
                return value
        return datetime.now(UTC)

    def maybe_make_aware(self, dt: datetime) -> datetime:
        """Aware version of ``dt``; naive means UTC, then shown in the schedule's zone."""
        return maybe_make_aware(dt, self.tz)

    def _setting(self, name: str) -> Any:
        """A configuration value from ``app.conf`` (attribute or key), or None without an app."""
        conf = getattr(self.app, "conf", None)
        if conf is None:
            return None
        value = getattr(conf, name, None)
        if value is None and hasattr(conf, "get"):
            value = conf.get(name)
        return value

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        raise NotImplementedError

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BaseSchedule):
            return other.nowfun == self.nowfun
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value, like Celery's
