# mypy: disable-error-code="misc"
# (Django ships no type information here, so its base classes are Any to mypy.)
"""A time-zone column: the zone's name in a ``varchar(63)``, a :class:`ZoneInfo` in Python.

It has the column of ``django-timezone-field``'s ``TimeZoneField`` (which django-celery-beat
uses), so the table is the same, without that dependency.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError
from django.db import models


def zone_name(value: Any) -> str:
    """The IANA name of ``value`` (a name or a tzinfo with one)."""
    return str(getattr(value, "key", None) or value)


def parse_zone(value: Any) -> tzinfo | None:
    """``value`` as a tzinfo; empty means None.

    Raises:
        ValidationError: not a known zone name.
    """
    if value in (None, ""):
        return None
    if isinstance(value, tzinfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone") from exc


def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class TimeZoneField(models.CharField):
    """A zone stored by name (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 63)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> tzinfo | None:
        return parse_zone(value)

    def to_python(self, value: Any) -> Any:
        return parse_zone(value)

    def get_prep_value(self, value: Any) -> Any:
        return None if value in (None, "") else zone_name(value)

    def value_to_string(self, obj: Any) -> str:
        return zone_name(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        """A select of every zone name (the column holds the name)."""
        from django import forms
        from django.utils.text import capfirst

        defaults: dict[str, Any] = {
            "choices": zone_choices(),
            "required": not self.blank,
            "label": capfirst(self.verbose_name),
            "help_text": self.help_text,
        }
        if self.has_default():
            defaults["initial"] = self.get_default
        defaults.update(kwargs)
        return forms.ChoiceField(**defaults)
