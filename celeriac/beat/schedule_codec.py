"""Schedules as JSON-ready dicts, for schedule sources that keep entries in a database.

Three shapes, chosen so a person (or a Django admin form) can write them by hand::

    {"type": "interval", "every": 30.0, "relative": false}
    {"type": "crontab", "minute": "*/5", "hour": "*", "day_of_week": "*",
     "day_of_month": "*", "month_of_year": "*", "tz": "Europe/Berlin"}   # tz optional
    {"type": "solar", "event": "sunset", "lat": 52.5, "lon": 13.4}

A crontab keeps the expressions it was written with, not the expanded sets, so it reads back
exactly as entered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta, tzinfo
from typing import Any

from celeriac.beat.base import Schedule
from celeriac.beat.crontab import crontab
from celeriac.beat.interval import schedule
from celeriac.beat.solar import solar
from celeriac.exceptions import ImproperlyConfigured

_CRON_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def encode_schedule(value: Any, relative: bool = False) -> dict[str, Any]:
    """The dict form of seconds, a ``timedelta``, a cron line (``"*/5 * * * *"``), a
    ``crontab``, a ``schedule`` or a ``solar``.

    Raises:
        ImproperlyConfigured: anything else (a custom schedule class cannot be stored).
    """
    if isinstance(value, Mapping):
        decode_schedule(value)  # validate before storing
        return dict(value)
    if isinstance(value, str):
        value = crontab.from_string(value)
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        value = schedule(value, relative)
    if isinstance(value, crontab):
        out: dict[str, Any] = {"type": "crontab"}
        for name in _CRON_FIELDS:
            out[name] = _cron_text(getattr(value, f"_orig_{name}"))
        zone = value._tz  # the explicit zone only; None means "the app's"
        if zone is not None:
            out["tz"] = _zone_name(zone)
        return out
    if isinstance(value, schedule):
        return {
            "type": "interval",
            "every": value.run_every.total_seconds(),
            "relative": bool(value.relative or relative),
        }
    if isinstance(value, solar):
        return {"type": "solar", "event": value.event, "lat": value.lat, "lon": value.lon}
    raise ImproperlyConfigured(
        f"Cannot store schedule {value!r}: use seconds, a timedelta, a cron line, crontab(), "
        "schedule() or solar()"
    )


def decode_schedule(data: Mapping[str, Any]) -> Schedule:
    """The schedule a dict from :func:`encode_schedule` describes.

    Raises:
        ImproperlyConfigured: unknown ``type`` or missing fields (crontab field errors are
            ``ValueError`` naming the field, as ``crontab()`` raises them).
    """
    kind = data.get("type")
    try:
        if kind == "interval":
            return schedule(float(data["every"]), bool(data.get("relative", False)))
        if kind == "crontab":
            fields = {name: data.get(name, "*") for name in _CRON_FIELDS}
            return crontab(**fields, tz=data.get("tz"))
        if kind == "solar":
            return solar(str(data["event"]), float(data["lat"]), float(data["lon"]))
    except KeyError as exc:
        raise ImproperlyConfigured(f"schedule {dict(data)!r} lacks {exc.args[0]!r}") from exc
    raise ImproperlyConfigured(
        f"schedule {dict(data)!r}: 'type' must be 'interval', 'crontab' or 'solar'"
    )


def _cron_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)
