"""Crontab field validators for the admin and ``full_clean``, by celeriac's own cron parser.

Module-level functions (not closures) so migrations can name them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from celeriac.beat.crontab import expand_field


def _check(field: str, value: str) -> None:
    try:
        expand_field(field, value)
    except (ValueError, TypeError) as exc:
        raise ValidationError(str(exc)) from exc


def minute_validator(value: str) -> None:
    _check("minute", value)


def hour_validator(value: str) -> None:
    _check("hour", value)


def day_of_month_validator(value: str) -> None:
    _check("day_of_month", value)


def month_of_year_validator(value: str) -> None:
    _check("month_of_year", value)


def day_of_week_validator(value: str) -> None:
    _check("day_of_week", value)
