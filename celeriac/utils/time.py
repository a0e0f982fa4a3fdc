"""Time-zone arithmetic the schedules share, written on :mod:`zoneinfo` alone; also the
``celery.utils.time`` import path (its public names are at the end of the module).

Celery leans on ``dateutil`` for gap/fold detection; celeriac keeps the dependency list short, so
the three primitives it needs (does a wall time exist, is it ambiguous, push an imaginary time
forward) are re-derived here from ``fold`` and a UTC round trip, with the same results as
``dateutil.tz``.

Convention shared by every schedule: a *naive* datetime means UTC (Celery's ``maybe_make_aware``
rule), and real elapsed time is always computed in UTC, never by subtracting two wall times.
"""

from __future__ import annotations

import numbers
import random
import time as _time
from collections.abc import Callable
from datetime import UTC as FIXED_UTC
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any, Final
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")

_TIME_UNITS = (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0))


def get_timezone(zone: str | tzinfo | None) -> tzinfo:
    """Return a tzinfo for ``zone``: names go through :class:`ZoneInfo`, ``None`` means UTC."""
    if zone is None:
        return UTC
    if isinstance(zone, str):
        return ZoneInfo(zone)
    return zone


def is_naive(dt: datetime) -> bool:
    """True when ``dt`` carries no usable offset (Celery's definition)."""
    return dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None


def maybe_make_aware(dt: datetime, tz: tzinfo | None = None, naive_as_utc: bool = True) -> datetime:
    """Return ``dt`` as an aware datetime; aware is unchanged. Naive means UTC (shown in ``tz``),
    or, with ``naive_as_utc=False``, a wall time in ``tz`` (Celery's function)."""
    if not is_naive(dt):
        return dt
    if not naive_as_utc:
        return localize(dt, tz if tz is not None else UTC)
    dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz) if tz is not None else dt


def make_aware(dt: datetime, tz: tzinfo) -> datetime:
    """``dt`` with its wall time read in ``tz`` (Celery's: the earlier reading of a repeated
    hour)."""
    dt = dt.replace(tzinfo=tz)
    if is_ambiguous(dt, tz):
        dt = min(dt.replace(fold=0), dt.replace(fold=1))
    return dt


def localize(dt: datetime, tz: tzinfo) -> datetime:
    """``dt`` in ``tz``: a naive wall time is read in ``tz``, a UTC one converted to it."""
    if is_naive(dt):
        dt = make_aware(dt, tz)
    if dt.utcoffset() == timedelta(0) and dt.tzinfo in (UTC, FIXED_UTC):
        dt = dt.astimezone(tz)
    return dt


def to_utc(dt: datetime) -> datetime:
    """The same instant in UTC (naive ``dt`` is taken as UTC).

    Celery's ``to_utc`` stamps UTC on an aware value without converting it; this one converts,
    which is the same for the naive and UTC values Celery passes it.
    """
    return maybe_make_aware(dt).astimezone(FIXED_UTC)


def exists(dt: datetime, tz: tzinfo | None = None) -> bool:
    """Whether the wall time of ``dt`` exists in ``tz`` (False inside a spring-forward gap)."""
    zone = tz or dt.tzinfo
    wall = dt.replace(tzinfo=None)
    round_trip = wall.replace(tzinfo=zone).astimezone(FIXED_UTC).astimezone(zone)
    return round_trip.replace(tzinfo=None) == wall


def is_ambiguous(dt: datetime, tz: tzinfo | None = None) -> bool:
    """Whether ``fold`` changes the offset of this wall time (a repeated hour, or a gap)."""
    local = dt.replace(tzinfo=tz or dt.tzinfo)
    first, second = local.replace(fold=0), local.replace(fold=1)
    return first.utcoffset() != second.utcoffset() or first.dst() != second.dst()


def resolve_imaginary(dt: datetime) -> datetime:
    """Move a wall time that falls in a gap forward by the gap's size (as ``dateutil`` does)."""
    if dt.tzinfo is None or exists(dt):
        return dt
    after = (dt + timedelta(hours=24)).utcoffset()
    before = (dt - timedelta(hours=24)).utcoffset()
    if after is None or before is None:
        return dt
    return dt + (after - before)


def add_seconds(dt: datetime, seconds: float) -> datetime:
    """Add elapsed (not wall-clock) seconds, keeping ``dt``'s zone; naive stays naive."""
    delta = timedelta(seconds=seconds)
    if is_naive(dt):
        return dt + delta
    return (dt.astimezone(FIXED_UTC) + delta).astimezone(dt.tzinfo)


def subtract(end: datetime, start: datetime) -> timedelta:
    """Real time elapsed from ``start`` to ``end`` (naive values are UTC)."""
    return to_utc(end) - to_utc(start)


def humanize_seconds(secs: float, prefix: str = "", sep: str = "", now: str = "now") -> str:
    """``60`` → ``'1.00 minute'``, ``7200`` → ``'2.00 hours'``: Celery's wording, for ``repr``."""
    secs = float(format(float(secs), ".2f"))
    for unit, divider in _TIME_UNITS:
        if secs >= divider:
            amount = secs / divider
            plural = "" if amount == 1 else "s"
            return f"{prefix}{sep}{amount:.2f} {unit}{plural}"
    return now


def delta_resolution(dt: datetime, delta: timedelta) -> datetime:
    """Round ``dt`` down to the unit of ``delta`` (day, hour or minute; else unchanged)."""
    seconds = max(delta.total_seconds(), 0)
    if seconds >= 86400:
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if seconds >= 3600:
        return dt.replace(minute=0, second=0, microsecond=0)
    if seconds >= 60:
        return dt.replace(second=0, microsecond=0)
    return dt


def _relative_end_dates(dt: datetime, delta: timedelta) -> list[datetime]:
    """Both UTC readings (fold 0 and 1) of the rounded local deadline, gaps resolved forwards."""
    rounded = delta_resolution(dt, delta).replace(microsecond=0)
    dates = []
    for fold in (0, 1):
        candidate = rounded.replace(fold=fold)
        if rounded.tzinfo is not None and not exists(candidate):
            resolved = resolve_imaginary(candidate)
            if resolved > candidate:
                candidate = resolved
        dates.append(to_utc(candidate))
    return dates


def _relative_deadline(start: datetime, ends_in: timedelta, end_date: datetime) -> datetime:
    """Celery's rounding of a ``relative=True`` deadline, DST-aware; see :func:`remaining`."""
    candidates = _relative_end_dates(end_date, ends_in)
    start_utc = to_utc(start)
    if ends_in >= timedelta(days=1):
        future = [dt for dt in candidates if dt > start_utc]
        return min(future, default=to_utc(end_date))
    end_utc = start_utc + ends_in
    before_end = [dt for dt in candidates if dt <= end_utc]
    rounded = max(before_end) if before_end else min(candidates)
    if ends_in >= timedelta(minutes=1) and rounded <= start_utc:
        # A partial-hour rollback can put the rounded boundary before start.
        unit = timedelta(hours=1) if ends_in >= timedelta(hours=1) else timedelta(minutes=1)
        candidates += _relative_end_dates(end_date + unit, ends_in)
        candidates += _relative_end_dates(start + ends_in, ends_in)
        future = [dt for dt in candidates if dt > start_utc]
        before_end = [dt for dt in future if dt <= end_utc]
        rounded = max(before_end) if before_end else min(future, default=end_utc)
    return rounded


def remaining(
    start: datetime, ends_in: timedelta, now: datetime, relative: bool = False
) -> timedelta:
    """Real time left until ``start + ends_in`` as seen at ``now`` (negative when overdue).

    Mirrors ``celery.utils.time.remaining`` for plain timedeltas: the interval is elapsed time,
    except for ``relative`` day intervals, which advance by local calendar days so a DST change does
    not shift the run to 23:00 or 01:00. With ``relative`` the deadline is rounded down to the
    interval's unit, but never to a moment at or before ``start``.
    """
    if not (relative and ends_in >= timedelta(days=1)):
        end_date = add_seconds(start, ends_in.total_seconds())
    else:
        end_date = start + ends_in
    if relative:
        end_date = _relative_deadline(start, ends_in, end_date)
    return to_utc(end_date) - to_utc(now)


# -- the rest of ``celery.utils.time``, for user code that imports it -------------------------

#: Celery's names for :func:`add_seconds` and :func:`subtract`.
add_seconds_to_datetime = add_seconds
subtract_datetimes = subtract

_WEEKDAYS: Final = {name: index for index, name in enumerate(
    ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MONTHS: Final = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_RATE_MODIFIERS: Final[dict[str, Callable[[float], float]]] = {
    "s": lambda n: n, "m": lambda n: n / 60.0, "h": lambda n: n / 60.0 / 60.0}


class LocalTimezone(tzinfo):
    """The system's local time zone, read from :mod:`time` (Celery's ``LocalTimezone``)."""

    def __init__(self) -> None:
        self.STDOFFSET = timedelta(seconds=-_time.timezone)
        self.DSTOFFSET = timedelta(seconds=-_time.altzone) if _time.daylight else self.STDOFFSET
        self.DSTDIFF = self.DSTOFFSET - self.STDOFFSET
        super().__init__()

    def __repr__(self) -> str:
        return f"<LocalTimezone: UTC{int(self.DSTOFFSET.total_seconds() / 3600):+03d}>"

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.DSTOFFSET if dt is not None and self._isdst(dt) else self.STDOFFSET

    def dst(self, dt: datetime | None) -> timedelta:
        return self.DSTDIFF if dt is not None and self._isdst(dt) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return _time.tzname[dt is not None and self._isdst(dt)]

    def _isdst(self, dt: datetime) -> bool:
        stamp = _time.mktime((dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second,
                              dt.weekday(), 0, 0))
        return _time.localtime(stamp).tm_isdst > 0


class _Zone:
    """``celery.utils.time.timezone``: the UTC and local zones and conversions between them."""

    utc: tzinfo = UTC

    @cached_property
    def local(self) -> tzinfo:
        return LocalTimezone()

    def tz_or_local(self, tzinfo: tzinfo | None = None) -> tzinfo:
        return self.local if tzinfo is None else self.get_timezone(tzinfo)

    def to_local(self, dt: datetime, local: tzinfo | None = None,
                 orig: tzinfo | None = None) -> datetime:
        if is_naive(dt):
            dt = make_aware(dt, orig or self.utc)
        return localize(dt, self.tz_or_local(local))

    def to_system(self, dt: datetime) -> datetime:
        return dt.astimezone(tz=None)

    def to_local_fallback(self, dt: datetime) -> datetime:
        return make_aware(dt, self.local) if is_naive(dt) else localize(dt, self.local)

    def get_timezone(self, zone: str | tzinfo) -> tzinfo:
        return get_timezone(zone)


timezone = _Zone()


def maybe_timedelta(delta: Any) -> Any:
    """A number of seconds as a :class:`timedelta`; anything else unchanged (Celery's)."""
    if isinstance(delta, numbers.Real):
        return timedelta(seconds=float(delta))
    return delta


def rate(r: str | float | None) -> float:
    """Tasks per second for a rate string: ``"100/m"`` is 1.67; ``"5"`` and ``5`` are 5."""
    if not r:
        return 0
    if isinstance(r, str):
        count, _, unit = r.partition("/")
        return _RATE_MODIFIERS[unit or "s"](float(count)) or 0
    return r


def weekday(name: str) -> int:
    """``0`` for ``"sunday"``/``"sun"`` up to ``6`` for Saturday; KeyError otherwise."""
    try:
        return _WEEKDAYS[name[:3].lower()]
    except KeyError:
        raise KeyError(name) from None


def yearmonth(name: str) -> int:
    """``1`` for ``"january"``/``"jan"`` up to ``12``; KeyError otherwise."""
    try:
        return _MONTHS[name[:3].lower()]
    except KeyError:
        raise KeyError(name) from None


def maybe_iso8601(dt: datetime | str | None) -> datetime | None:
    """An ISO 8601 string as a datetime; a datetime (or None) unchanged."""
    if not dt or isinstance(dt, datetime):
        return dt or None
    return datetime.fromisoformat(dt)


def utcoffset(time: Any = _time, localtime: Any = _time.localtime) -> float:
    """The local zone's offset from UTC in hours, as Celery reports it (west is positive)."""
    if localtime().tm_isdst:
        return float(time.altzone // 3600)
    return float(time.timezone // 3600)


def adjust_timestamp(ts: float, offset: float, here: Any = utcoffset) -> float:
    """``ts`` moved from the zone ``offset`` hours from UTC to the local one."""
    return float(ts - (offset - here()) * 3600)


def get_exponential_backoff_interval(factor: float, retries: int, maximum: float,
                                     full_jitter: bool = False) -> float:
    """``factor * 2 ** retries`` capped at ``maximum``; ``full_jitter`` draws from 0 to it."""
    countdown: float = min(maximum, factor * float(2 ** retries))
    if full_jitter:
        countdown = random.randrange(int(countdown) + 1)
    return max(0, countdown)


__all__ = [
    "LocalTimezone", "add_seconds_to_datetime", "adjust_timestamp", "delta_resolution",
    "get_exponential_backoff_interval", "humanize_seconds", "is_naive", "localize",
    "make_aware", "maybe_iso8601", "maybe_make_aware", "maybe_timedelta", "rate", "remaining",
    "subtract_datetimes", "timezone", "to_utc", "utcoffset", "weekday",
]
