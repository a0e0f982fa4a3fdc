"""Crontab parsing: the expanded sets equal real Celery's (golden file); errors name the field."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac.exceptions import CeleriacError
from celeriac.schedules import ParseException, Schedule, crontab, crontab_parser

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "crontab_golden.json").read_text())
FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def _build(row: dict[str, Any]) -> crontab:
    if "from_string" in row:
        return crontab.from_string(row["from_string"])
    return crontab(**row["kwargs"])


def test_golden_table_is_large_enough() -> None:
    assert len(GOLDEN["expansions"]) >= 40


@pytest.mark.parametrize(
    "row", GOLDEN["expansions"], ids=lambda r: str(r.get("from_string", r.get("kwargs")))
)
def test_expanded_sets_equal_celerys(row: dict[str, Any]) -> None:
    cron = _build(row)
    assert {field: sorted(getattr(cron, field)) for field in FIELDS} == row["sets"]
    assert all(isinstance(v, int) for field in FIELDS for v in getattr(cron, field))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hour": "25"}, "Invalid crontab field 'hour': '25' is out of range 0-23"),
        ({"hour": 25}, "Invalid crontab field 'hour': '25' is out of range 0-23"),
        ({"minute": "50-60"}, "Invalid crontab field 'minute': '60' is out of range 0-59"),
        ({"day_of_week": "7"}, "Invalid crontab field 'day_of_week': '7' is out of range 0-6"),
        ({"day_of_month": "0"}, "Invalid crontab field 'day_of_month': '0' is out of range 1-31"),
        ({"month_of_year": [0, 1]}, "Invalid crontab field 'month_of_year': '0' is out of range"),
        ({"minute": "*/0"}, "Invalid crontab field 'minute': '*/0' has an invalid step '0'"),
        ({"minute": "*/"}, "Invalid crontab field 'minute': '*/' has an invalid step ''"),
        ({"minute": "1-5/"}, "has an invalid step ''"),
        ({"minute": "5/2"}, "has a step on a single value"),
        ({"hour": "1,,2"}, "Invalid crontab field 'hour': '1,,2' has an empty part"),
        ({"hour": ""}, "has an empty part"),
        ({"hour": "-5"}, "cannot be parsed"),
        ({"hour": "1-5-7"}, "cannot be parsed"),
        ({"minute": "1-5/2!"}, "has an invalid step '2!'"),
        ({"hour": "mon"}, "Invalid crontab field 'hour': 'mon' contains 'mon'"),
        ({"day_of_week": "jan"}, "neither a number nor a name this field takes"),
        ({"month_of_year": "fri"}, "neither a number nor a name this field takes"),
        ({"day_of_week": "monkey"}, "neither a number nor a name"),
        ({"minute": ["5"]}, "is not an integer"),
        ({"day_of_month": 30, "month_of_year": 2}, "never occurs in month_of_year 2"),
        ({"day_of_month": "31", "month_of_year": "apr,jun,sep,nov"}, "never occurs"),
    ],
)
def test_invalid_expressions_raise_value_error_naming_the_field(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        crontab(**kwargs)
    assert isinstance(info.value, ParseException)
    assert isinstance(info.value, CeleriacError)
    assert message in str(info.value)


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be an int, a str or an iterable of ints"):
        crontab(minute=1.5)  # type: ignore[arg-type]


def test_parser_standalone_matches_celery_docstring_examples() -> None:
    assert crontab_parser(60).parse("*/15") == {0, 15, 30, 45}
    assert crontab_parser(24).parse("*/4") == {0, 4, 8, 12, 16, 20}
    assert crontab_parser(7).parse("*") == set(range(7))
    assert crontab_parser(31, 1).parse("*/3") == {1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31}
    assert crontab_parser(12, 1).parse("*/2") == {1, 3, 5, 7, 9, 11}
    assert crontab_parser(12, 1).parse("2-12/2") == {2, 4, 6, 8, 10, 12}
    with pytest.raises(crontab_parser.ParseException, match="Invalid crontab expression"):
        crontab_parser(24).parse("24")


def test_whitespace_around_parts_is_tolerated() -> None:
    assert crontab(minute=" 0, 30 ").minute == {0, 30}


def test_from_string_field_order_and_errors() -> None:
    cron = crontab.from_string("5 4 1-7 jan mon")
    assert cron == crontab("5", "4", "mon", "1-7", "jan")
    assert crontab.from_string("*/5  *  * * *").minute == set(range(0, 60, 5))
    with pytest.raises(ParseException, match="expected 5 space-separated fields"):
        crontab.from_string("* * * *")


def test_repr_matches_celery_format() -> None:
    assert repr(crontab(minute=0, hour=4)) == "<crontab: 0 4 * * * (m/h/dM/MY/d)>"
    assert (
        repr(crontab("*/15", "9-17", "mon-fri", "1", "jan"))
        == "<crontab: */15 9-17 1 jan mon-fri (m/h/dM/MY/d)>"
    )


def test_equality_compares_expanded_sets_and_zone() -> None:
    assert crontab(minute="0,30") == crontab(minute=[30, 0])
    assert crontab(day_of_week="mon-fri") == crontab(day_of_week="1-5")
    assert crontab(minute=0) != crontab(minute=1)
    berlin = ZoneInfo("Europe/Berlin")
    assert crontab(minute=0, tz=berlin) == crontab(minute=0, tz="Europe/Berlin")
    assert crontab(minute=0, tz=berlin) != crontab(minute=0)
    assert crontab() != "* * * * *"


def test_pickle_round_trip_keeps_fields_and_zone() -> None:
    cron = crontab("*/10", "3", tz="Asia/Shanghai")
    clone = pickle.loads(pickle.dumps(cron))
    assert clone == cron
    assert clone.tz == ZoneInfo("Asia/Shanghai")


def test_crontab_satisfies_schedule_protocol() -> None:
    assert isinstance(crontab(), Schedule)


def test_default_zone_is_utc_then_app_timezone() -> None:
    assert crontab().tz == ZoneInfo("UTC")

    class App:
        timezone = "Asia/Shanghai"

    assert crontab(app=App()).tz == ZoneInfo("Asia/Shanghai")
    assert crontab(app=App(), tz="Europe/Berlin").tz == ZoneInfo("Europe/Berlin")
