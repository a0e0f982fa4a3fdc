"""Time-zone arithmetic the schedules share, written on :mod:`zoneinfo` alone.

Celery leans on ``dateutil`` for gap/fold detection; celeriac keeps the dependency list short, so
the three primitives it needs (does a wall time exist, is it ambiguous, push an imaginary time
forward) are re-derived here from ``fold`` and a UTC round trip, with the same results as
``dateutil.tz``.

Convention shared by every schedule: a *naive* datetime means UTC (Celery's ``maybe_make_aware``
rule), and real elapsed time is always computed in UTC, never by subtracting two wall times.
"""

from __future__ import annotations

from datetime import UTC as FIXED_UTC
from datetime import datetime, timedelta, tzinfo
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


def make_aware(dt: datetime, tz: tzinfo | None = None) -> datetime:
    """Return ``dt`` as an aware datetime: naive means UTC, shown in ``tz``; aware is unchanged."""
    if is_naive(dt):
        dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(tz) if tz is not None else dt
    return dt


def to_utc(dt: datetime) -> datetime:
    """The same instant in UTC (naive ``dt`` is taken as UTC)."""
    return make_aware(dt).astimezone(FIXED_UTC)


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
