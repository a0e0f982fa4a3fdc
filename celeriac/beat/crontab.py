"""``crontab``: cron-style schedules, parsed and expanded exactly as Celery does.

The expanded field sets (``.minute``, ``.hour``, ...) equal ``celery.schedules.crontab``'s for every
valid expression (golden-tested against real Celery), so a beat schedule ports unchanged. Supported
syntax per field: ``*``, numbers, ``a-b`` ranges (wrapping around when ``b < a``, e.g. ``fri-mon``
or ``22-2``), ``/n`` steps on ``*`` or on a range, ``,`` lists, day names in ``day_of_week`` and
month names in ``month_of_year`` (three-letter or full, any case), or an int / iterable of ints.

Deliberate differences from Celery, all on input Celery would mis-read rather than reject:

* trailing junk is an error (Celery ignores it: ``'1-5/2!'`` and ``'1-5-7'`` parse as ``1-5/2`` /
  ``1-5``);
* names are accepted only in their own field (Celery reads ``hour='jan'`` as 1 and
  ``day_of_week='mar'`` as Wednesday), and a name must be an abbreviation or the full name (Celery
  accepts ``'monkey'`` as Monday);
* every error is a :class:`ParseException` — a :class:`ValueError` — naming the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Any

from celeriac.beat.base import BaseSchedule, NowFun, schedstate
from celeriac.beat.crontab_schedule import CronFields, next_run_at
from celeriac.exceptions import CeleriacError
from celeriac.utils.time import get_timezone, to_utc

Cronspec = int | str | Iterable[int]

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_FULL_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

#: Longest length of each month (leap February), to reject e.g. 30 February at construction.
DAYS_IN_MONTH = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}

_PART = re.compile(r"^(?P<base>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[^/]*))?$")


class ParseException(CeleriacError, ValueError):
    """A crontab field could not be parsed or holds a value outside its range.

    A :class:`ValueError` as well, so both ``except ValueError`` (what Celery raises for range
    errors) and ``except ParseException`` catch every crontab error.
    """


_Error = ParseException


class crontab_parser:
    """Expands one crontab field into the set of values it matches.

    ``crontab_parser(60).parse('*/15') == {0, 15, 30, 45}``; ``crontab_parser(31, 1)`` parses days
    of the month (values ``min_`` to ``min_ + max_ - 1``). ``field`` names the field in error
    messages; ``names`` maps the words allowed in this field to numbers (by default: day names for a
    0-6 field, month names for a 1-12 one).
    """

    ParseException = ParseException

    def __init__(
        self,
        max_: int = 60,
        min_: int = 0,
        field: str | None = None,
        names: dict[str, int] | None = None,
    ) -> None:
        self.max_ = max_
        self.min_ = min_
        self.field = field
        self.names = _default_names(max_, min_) if names is None else names

    def parse(self, spec: str) -> set[int]:
        """The set of values ``spec`` matches; raises :class:`ParseException` naming the field."""
        values: set[int] = set()
        for part in spec.split(","):
            values.update(self._parse_part(part.strip(), spec))
        return values

    def _fail(self, spec: str, why: str) -> _Error:
        where = f"crontab field {self.field!r}" if self.field else "crontab expression"
        return ParseException(f"Invalid {where}: {spec!r} {why}")

    def _parse_part(self, part: str, spec: str) -> list[int]:
        if not part:
            raise self._fail(spec, "has an empty part (check for a stray comma)")
        match = _PART.match(part)
        if match is None:
            raise self._fail(
                spec, f"cannot be parsed at {part!r} (expected *, N, A-B, */S or A-B/S)"
            )
        base, step = match.group("base"), match.group("step")
        if base == "*":
            values = list(range(self.min_, self.min_ + self.max_))
        elif "-" in base:
            first, last = base.split("-", 1)
            values = self._expand_range(first, last, spec)
        else:
            if step is not None:
                raise self._fail(
                    spec, f"has a step on a single value in {part!r} (use {base}-MAX/{step})"
                )
            return [self._number(base, spec)]
        if step is None:
            return values
        if not step.isdigit() or not step.isascii() or int(step) == 0:
            raise self._fail(
                spec, f"has an invalid step {step!r} in {part!r} (expected a positive integer)"
            )
        return values[:: int(step)]

    def _expand_range(self, first: str, last: str, spec: str) -> list[int]:
        start, end = self._number(first, spec), self._number(last, spec)
        if end < start:  # wrap around, e.g. 'fri-mon' or '22-2'
            return list(range(start, self.min_ + self.max_)) + list(range(self.min_, end + 1))
        return list(range(start, end + 1))

    def _number(self, token: str, spec: str) -> int:
        if token.isdigit() and token.isascii():
            value = int(token)
        elif token.lower() in self.names:
            value = self.names[token.lower()]
        else:
            raise self._fail(
                spec, f"contains {token!r}, which is neither a number nor a name this field takes"
            )
        return self._check_range(value, spec)

    def _check_range(self, value: int, spec: str) -> int:
        high = self.min_ + self.max_ - 1
        if not self.min_ <= value <= high:
            context = "" if spec == str(value) else f" (in {spec!r})"
            raise self._fail(str(value), f"is out of range {self.min_}-{high}{context}")
        return value

    def expand(self, cronspec: Cronspec) -> set[int]:
        """Expand an int, a string or an iterable of ints (what ``crontab`` takes), checked."""
        if isinstance(cronspec, int):
            return {self._check_range(cronspec, str(cronspec))}
        if isinstance(cronspec, str):
            return self.parse(cronspec)
        if isinstance(cronspec, Iterable):
            values = set(cronspec)
            for value in values:
                if not isinstance(value, int):
                    raise self._fail(repr(value), "is not an integer")
                self._check_range(value, str(value))
            return values
        raise TypeError(
            f"crontab field {self.field or ''!r} must be an int, a str or an iterable of ints, "
            f"not {type(cronspec).__name__}"
        )


def _default_names(max_: int, min_: int) -> dict[str, int]:
    if (max_, min_) == (7, 0):
        return {**dict(zip(DAY_NAMES, range(7), strict=True)),
                **dict(zip(_FULL_DAY_NAMES, range(7), strict=True))}  # fmt: skip
    if (max_, min_) == (12, 1):
        return {**dict(zip(MONTH_NAMES, range(1, 13), strict=True)),
                **dict(zip(_FULL_MONTH_NAMES, range(1, 13), strict=True))}  # fmt: skip
    return {}


#: (max_, min_) of each field, in Celery's argument order.
FIELD_RANGES = {
    "minute": (60, 0),
    "hour": (24, 0),
    "day_of_week": (7, 0),
    "day_of_month": (31, 1),
    "month_of_year": (12, 1),
}


def expand_field(field: str, cronspec: Cronspec | None) -> set[int]:
    """Expand one named crontab field (``None`` means ``'*'``)."""
    max_, min_ = FIELD_RANGES[field]
    return crontab_parser(max_, min_, field=field).expand("*" if cronspec is None else cronspec)


def check_some_day_exists(
    day_of_month: set[int], month_of_year: set[int], orig: tuple[Any, Any]
) -> None:
    """Reject crontabs whose days never occur in their months (e.g. 30 February), as Celery does."""
    if not any(day <= DAYS_IN_MONTH[month] for month in month_of_year for day in day_of_month):
        raise ParseException(
            f"Invalid crontab field 'day_of_month': {orig[0]!r} never occurs in "
            f"month_of_year {orig[1]!r}"
        )


_REPR = "<crontab: {0} {1} {2} {3} {4} (m/h/dM/MY/d)>"


class crontab(BaseSchedule):
    """Run at the wall-clock minutes matching all five fields, in the schedule's time zone.

    Arguments follow Celery's order (``minute, hour, day_of_week, day_of_month, month_of_year``);
    each is a string pattern, an int or an iterable of ints, ``'*'`` by default. Day of week counts
    from Sunday = 0. A date must match ``day_of_month``, ``month_of_year`` *and* ``day_of_week``
    (Celery's rule, not cron's "either day field"): ``day_of_week='mon', day_of_month='1-7'`` is the
    first Monday of the month.

    ``tz`` is the zone the fields are read in; without it the app's ``timezone`` is used, else UTC.
    Across DST changes a crontab keeps to the local clock: a time inside the skipped spring-forward
    hour does not run that day (02:30 daily in Europe/Berlin skips the last Sunday of March), and a
    time inside the repeated autumn hour runs once, at its first occurrence. See
    :mod:`celeriac.beat.crontab_schedule`.
    """

    def __init__(
        self,
        minute: Cronspec = "*",
        hour: Cronspec = "*",
        day_of_week: Cronspec = "*",
        day_of_month: Cronspec = "*",
        month_of_year: Cronspec = "*",
        *,
        tz: str | tzinfo | None = None,
        nowfun: NowFun | None = None,
        app: Any = None,
    ) -> None:
        self._orig_minute = "*" if minute is None else minute
        self._orig_hour = "*" if hour is None else hour
        self._orig_day_of_week = "*" if day_of_week is None else day_of_week
        self._orig_day_of_month = "*" if day_of_month is None else day_of_month
        self._orig_month_of_year = "*" if month_of_year is None else month_of_year
        self.hour = expand_field("hour", hour)
        self.minute = expand_field("minute", minute)
        self.day_of_week = expand_field("day_of_week", day_of_week)
        self.day_of_month = expand_field("day_of_month", day_of_month)
        self.month_of_year = expand_field("month_of_year", month_of_year)
        check_some_day_exists(
            self.day_of_month,
            self.month_of_year,
            (self._orig_day_of_month, self._orig_month_of_year),
        )
        super().__init__(nowfun=nowfun, app=app, tz=tz)

    @classmethod
    def from_string(cls, crontab: str, **kwargs: Any) -> crontab:
        """Build from a five-field cron line ``'minute hour day_of_month month day_of_week'``."""
        fields = crontab.split()
        if len(fields) != 5:
            raise ParseException(
                f"Invalid crontab expression {crontab!r}: expected 5 space-separated fields "
                f"(minute hour day_of_month month_of_year day_of_week), got {len(fields)}"
            )
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year, **kwargs)

    @property
    def fields(self) -> CronFields:
        """The expanded fields in the form the next-run math takes."""
        return CronFields.of(
            self.minute, self.hour, self.day_of_week, self.day_of_month, self.month_of_year
        )

    def next_run_at(self, last_run_at: datetime, tz: str | tzinfo | None = None) -> datetime:
        """The first run strictly after the minute of ``last_run_at`` (aware, schedule's zone)."""
        zone = get_timezone(tz) if tz is not None else self.tz
        last = self.maybe_make_aware(last_run_at).astimezone(zone)
        return next_run_at(self.fields, last, zone)

    def remaining_delta(
        self, last_run_at: datetime, tz: str | tzinfo | None = None
    ) -> tuple[datetime, timedelta, datetime]:
        """``(last_run_at, delta, now)``, both datetimes in the schedule's zone.

        ``delta`` is the real time from ``last_run_at`` to the next run, so ``last_run_at + delta``
        (in UTC) is the next run. (Celery returns an ``ffwd`` there; the tuple feeds ``remaining()``
        the same way.)
        """
        zone = get_timezone(tz) if tz is not None else self.tz
        last = self.maybe_make_aware(last_run_at).astimezone(zone)
        now = self.maybe_make_aware(self.now()).astimezone(zone)
        return last, to_utc(next_run_at(self.fields, last, zone)) - to_utc(last), now

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Real time from now until the next run after ``last_run_at``; negative when overdue."""
        last, delta, now = self.remaining_delta(last_run_at)
        return to_utc(last) + delta - to_utc(now)

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(due, seconds_until_next_check)``, honouring ``beat_cron_starting_deadline``.

        With a deadline configured (``app.conf.beat_cron_starting_deadline``, seconds), an overdue
        run whose scheduled time is older than the deadline is not caught up: the entry waits for
        its next time.
        """
        rem_secs = self.remaining_estimate(last_run_at).total_seconds()
        due = rem_secs <= 0
        passed_deadline = False
        deadline = self._setting("beat_cron_starting_deadline")
        if deadline is not None and rem_secs < 0:
            now = self.maybe_make_aware(self.now())
            since = to_utc(now) - timedelta(seconds=deadline, microseconds=1)
            if self.remaining_estimate(since.astimezone(now.tzinfo)).total_seconds() > 0:
                passed_deadline, due = True, False
        if due or passed_deadline:
            return schedstate(due, max(self.remaining_estimate(self.now()).total_seconds(), 0))
        return schedstate(due, max(rem_secs, 0))

    def _orig(self) -> tuple[Any, ...]:
        return (
            self._orig_minute,
            self._orig_hour,
            self._orig_day_of_week,
            self._orig_day_of_month,
            self._orig_month_of_year,
        )

    def __repr__(self) -> str:
        m, h, dw, dm, my = self._orig()
        return _REPR.format(m, h, dm, my, dw)

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, self._orig(), {"_tz": self._tz}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, crontab):
            return (
                other.month_of_year == self.month_of_year
                and other.day_of_month == self.day_of_month
                and other.day_of_week == self.day_of_week
                and other.hour == self.hour
                and other.minute == self.minute
                and other._tz == self._tz
                and super().__eq__(other)
            )
        return NotImplemented
