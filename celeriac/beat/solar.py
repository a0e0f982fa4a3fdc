"""``solar(event, lat, lon)``: run at sunrise, sunset, dawn, dusk or solar noon, without ``ephem``.

Celery needs the ``ephem`` C extension for this; celeriac computes the sun's position with the NOAA
solar calculator formulas (Meeus, *Astronomical Algorithms*, low-precision series), which agree with
``ephem`` to well under a minute (the golden tests allow 60 s, the worst seen is about 40 s, at high
latitude). That is ample for a beat schedule and keeps the dependency list empty.

Events use Celery's definitions: sunrise/sunset when the sun's upper limb is 34' below the horizon
(with its 16' semi-diameter: centre at -0.833°), civil/nautical/astronomical dawn and dusk when the
centre is 6°/12°/18° below, solar noon at the sun's transit. When an event does not happen on some
days (polar day or night, white nights), the search moves on day by day for up to
:attr:`solar.max_search_days` days.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from celeriac.beat.base import BaseSchedule, NowFun, schedstate
from celeriac.utils.time import to_utc

_ALTITUDES = {
    "dawn_astronomical": -18.0,
    "dawn_nautical": -12.0,
    "dawn_civil": -6.0,
    "sunrise": -50.0 / 60.0,
    "solar_noon": 0.0,
    "sunset": -50.0 / 60.0,
    "dusk_civil": -6.0,
    "dusk_nautical": -12.0,
    "dusk_astronomical": -18.0,
}
#: -1 before transit (rising), +1 after (setting), 0 at transit.
_SIDE = {event: (-1 if event.startswith(("dawn", "sunrise")) else 1) for event in _ALTITUDES}
_SIDE["solar_noon"] = 0

_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)


def _sun(moment: datetime) -> tuple[float, float]:
    """(declination in degrees, equation of time in minutes) at ``moment`` (NOAA formulas)."""
    t = (moment - _J2000).total_seconds() / 86400.0 / 36525.0  # Julian centuries since J2000.0
    mean_long = math.radians((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360)
    mean_anom = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    ecc = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    center = (
        math.sin(mean_anom) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * mean_anom) * (0.019993 - 0.000101 * t)
        + math.sin(3 * mean_anom) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    app_long = math.radians(math.degrees(mean_long) + center - 0.00569 - 0.00478 * math.sin(omega))
    seconds = 21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))
    obliquity = math.radians(23 + (26 + seconds / 60) / 60 + 0.00256 * math.cos(omega))
    declination = math.degrees(math.asin(math.sin(obliquity) * math.sin(app_long)))
    y = math.tan(obliquity / 2) ** 2
    eq_time = 4 * math.degrees(
        y * math.sin(2 * mean_long)
        - 2 * ecc * math.sin(mean_anom)
        + 4 * ecc * y * math.sin(mean_anom) * math.cos(2 * mean_long)
        - 0.5 * y * y * math.sin(4 * mean_long)
        - 1.25 * ecc * ecc * math.sin(2 * mean_anom)
    )
    return declination, eq_time


def event_on(day: datetime, event: str, lat: float, lon: float) -> datetime | None:
    """The UTC time of ``event`` in the solar day around ``day``'s noon UTC, or None if none."""
    base = day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    estimate = base + timedelta(minutes=720 - 4 * lon)
    reached = True
    for _ in range(4):  # refine: the sun's position at the estimated event time
        declination, eq_time = _sun(estimate)
        offset = 0.0
        if _SIDE[event]:
            lat_r, dec_r = math.radians(lat), math.radians(declination)
            target = math.sin(math.radians(_ALTITUDES[event]))
            cos_ha = (target - math.sin(lat_r) * math.sin(dec_r)) / (
                math.cos(lat_r) * math.cos(dec_r)
            )
            # Out of range means the altitude is not reached at this declination; clamp and re-check
            # at the clamped time (transit or anti-transit), where the declination is the right one.
            reached = -1.0 <= cos_ha <= 1.0
            offset = _SIDE[event] * 4 * math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
        estimate = base + timedelta(minutes=720 - 4 * lon - eq_time + offset)
    return estimate if reached else None


class solar(BaseSchedule):
    """Run at a solar event seen from (``lat``, ``lon``); the module docstring defines events."""

    _all_events = frozenset(_ALTITUDES)
    #: How many days ahead to look for an event that does not happen every day.
    max_search_days = 366

    def __init__(
        self,
        event: str,
        lat: float,
        lon: float,
        nowfun: NowFun | None = None,
        app: Any = None,
    ) -> None:
        if event not in _ALTITUDES:
            raise ValueError(
                f'Argument event "{event}" is invalid, must be one of '
                f"{', '.join(sorted(_ALTITUDES))}."
            )
        if not -90 <= lat <= 90:
            raise ValueError(f"Argument latitude {lat} is invalid, must be between -90 and 90.")
        if not -180 <= lon <= 180:
            raise ValueError(f"Argument longitude {lon} is invalid, must be between -180 and 180.")
        self.event, self.lat, self.lon = event, lat, lon
        super().__init__(nowfun=nowfun, app=app)

    def next_event(self, after: datetime) -> datetime:
        """The first event strictly after ``after`` (UTC), else the end of the search window."""
        start = to_utc(after)
        day = start - timedelta(days=1)
        for _ in range(self.max_search_days + 2):
            moment = event_on(day, self.event, self.lat, self.lon)
            if moment is not None and moment > start:
                return moment
            day += timedelta(days=1)
        return day

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Real time from now until the first event after ``last_run_at``."""
        return self.next_event(last_run_at) - to_utc(self.now())

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(due, seconds_until_next_check)`` as Celery's ``solar.is_due``."""
        rem = max(self.remaining_estimate(last_run_at).total_seconds(), 0)
        due = rem == 0
        if due:
            rem = max(self.remaining_estimate(self.now()).total_seconds(), 0)
        return schedstate(due, rem)

    def __repr__(self) -> str:
        return f"<solar: {self.event} at latitude {self.lat}, longitude: {self.lon}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.event, self.lat, self.lon)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, solar):
            return (other.event, other.lat, other.lon) == (self.event, self.lat, self.lon)
        return NotImplemented
