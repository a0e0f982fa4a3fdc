"""Crontab next-run math: equals Celery's results (golden file) except where Celery errs across DST.

Where celeriac deliberately differs (Europe/Berlin, see celeriac.beat.crontab_schedule):
* a wall time in the skipped spring hour does not run that day (Celery runs it an hour late,
  e.g. at 03:30);
* when the last run happened in the second pass of the repeated autumn hour, the next run stays in
  that pass (Celery returns the first-pass time, which is already past, so it fires on every tick).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac.schedules import crontab

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "crontab_golden.json").read_text())
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


class FakeApp:
    """Just what a schedule reads from an app: zone and config."""

    def __init__(self, timezone: str, deadline: int | None = None) -> None:
        self.timezone = timezone
        self.conf = {"beat_cron_starting_deadline": deadline}


def _ids(row: dict[str, Any]) -> str:
    return f"{row['kwargs']}@{row['tz']}:{row['last_run_at']}"


@pytest.mark.parametrize("row", GOLDEN["next_runs"], ids=_ids)
def test_next_run_equals_celerys(row: dict[str, Any]) -> None:
    last = _at(row["last_run_at"])
    cron = crontab(**row["kwargs"], tz=row["tz"], nowfun=lambda: last)
    assert cron.next_run_at(last).astimezone(UTC) == _at(row["next_utc"])
    assert last + cron.remaining_estimate(last) == _at(row["next_utc"])


#: Our answer for each golden DST case (local Europe/Berlin time); None means "same as Celery".
DST_EXPECTED: dict[tuple[str, str, int], str | None] = {
    # 02:30 daily: the spring day has no 02:30, so the next run is the day after
    # (Celery: 03:30 that day).
    ("{'hour': '2', 'minute': '30'}", "2024-03-30T02:30:00+01:00", 0): "2024-04-01T02:30:00+02:00",
    ("{'hour': '2', 'minute': '30'}", "2024-03-31T01:00:00+01:00", 0): "2024-04-01T02:30:00+02:00",
    ("{'hour': '2', 'minute': '30'}", "2024-03-31T03:30:00+02:00", 0): None,
    # autumn: once, at the first 02:30, then the next day.
    ("{'hour': '2', 'minute': '30'}", "2024-10-26T02:30:00+02:00", 0): None,
    ("{'hour': '2', 'minute': '30'}", "2024-10-27T02:30:00+02:00", 0): None,
    ("{'hour': '2', 'minute': '30'}", "2024-10-27T02:30:00+01:00", 1): None,
    ("{'minute': '*/15'}", "2024-03-31T01:45:00+01:00", 0): None,
    ("{'minute': '*/15'}", "2024-10-27T01:45:00+02:00", 0): None,
    ("{'minute': '*/15'}", "2024-10-27T02:45:00+02:00", 0): None,
    # last run in the second pass: Celery answers 02:15+02:00, an instant before the last run.
    ("{'minute': '*/15'}", "2024-10-27T02:10:00+01:00", 1): "2024-10-27T02:15:00+01:00",
    ("{'minute': '0'}", "2024-10-27T02:00:00+02:00", 0): None,
    ("{'minute': '0'}", "2024-03-31T01:00:00+01:00", 0): None,
    ("{'hour': '3', 'minute': '0'}", "2024-03-30T03:00:00+01:00", 0): None,
    ("{'hour': '0', 'minute': '0'}", "2024-10-26T00:00:00+02:00", 0): None,
    # Sundays at 02:00: the spring Sunday has no 02:00, so the next is a week later.
    ("{'day_of_week': 'sun', 'hour': '2', 'minute': '0'}", "2024-03-24T02:00:00+01:00", 0):
        "2024-04-07T02:00:00+02:00",
    ("{'day_of_week': 'sun', 'hour': '2', 'minute': '0'}", "2024-10-20T02:00:00+02:00", 0): None,
}  # fmt: skip


def _dst_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return (str(dict(sorted(row["kwargs"].items()))), row["last_run_at"], row["fold"])


@pytest.mark.parametrize("row", GOLDEN["dst_cases"], ids=_ids)
def test_berlin_dst_cases_against_celery(row: dict[str, Any]) -> None:
    last = _at(row["last_run_at"]).replace(fold=row["fold"])
    cron = crontab(**row["kwargs"], tz=BERLIN)
    ours = cron.next_run_at(last)
    expected = DST_EXPECTED[_dst_key(row)]
    if expected is None:
        assert ours.astimezone(UTC) == _at(row["celery_next_utc"])
        assert ours.isoformat() == row["celery_next_local"]
    else:
        assert ours.isoformat() == expected
        assert ours.astimezone(UTC) != _at(row["celery_next_utc"])
    assert ours > last  # never an instant already in the past


@pytest.mark.parametrize("row", GOLDEN["is_due"], ids=lambda r: f"{r['kwargs']}@{r['now']}")
def test_is_due_equals_celerys(row: dict[str, Any]) -> None:
    now = _at(row["now"])
    cron = crontab(**row["kwargs"], app=FakeApp(row["tz"], row["deadline"]), nowfun=lambda: now)
    due, next_check = cron.is_due(_at(row["last_run_at"]))
    assert (due, next_check) == (row["is_due"], row["next"])


def _beat(cron: crontab, start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    """Drive ``is_due`` like the beat loop (no sleeping: the clock is a variable); yield runs."""
    clock = start.astimezone(UTC)  # step in UTC: aware wall-clock arithmetic would walk into gaps
    cron.nowfun = lambda: clock
    last_run_at = clock
    while clock < end:
        due, _ = cron.is_due(last_run_at)
        if due:
            last_run_at = clock
            yield clock
        clock += step


def test_spring_forward_skips_a_daily_run_inside_the_missing_hour() -> None:
    cron = crontab(minute=30, hour=2, tz=BERLIN)
    start = datetime(2024, 3, 29, 12, tzinfo=BERLIN)
    runs = list(_beat(cron, start, start + timedelta(days=4), timedelta(minutes=1)))
    assert [r.astimezone(BERLIN).isoformat() for r in runs] == [
        "2024-03-30T02:30:00+01:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_fall_back_runs_a_daily_job_once_in_the_repeated_hour() -> None:
    cron = crontab(minute=30, hour=2, tz=BERLIN)
    start = datetime(2024, 10, 25, 12, tzinfo=BERLIN)
    runs = list(_beat(cron, start, start + timedelta(days=3), timedelta(seconds=30)))
    assert [r.astimezone(BERLIN).isoformat() for r in runs] == [
        "2024-10-26T02:30:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]


def test_fall_back_quarter_hourly_runs_each_wall_time_once() -> None:
    cron = crontab(minute="*/15", tz=BERLIN)
    start = datetime(2024, 10, 27, 1, 50, tzinfo=BERLIN)
    end = start.astimezone(UTC) + timedelta(hours=3)  # 03:50 CET: the 02:xx hour happened twice
    runs = list(_beat(cron, start, end, timedelta(minutes=1)))
    walls = [r.astimezone(BERLIN).strftime("%H:%M") for r in runs]
    assert walls == ["02:00", "02:15", "02:30", "02:45", "03:00", "03:15", "03:30", "03:45"]


def test_beat_started_in_the_second_pass_does_not_fire_on_every_tick() -> None:
    """Celery fires this entry on every tick until 03:00 (its next run is in the first pass)."""
    cron = crontab(minute="*/15", tz=BERLIN)
    start = datetime(2024, 10, 27, 2, 10, fold=1, tzinfo=BERLIN)
    end = datetime(2024, 10, 27, 3, 20, tzinfo=BERLIN)
    runs = list(_beat(cron, start, end, timedelta(seconds=10)))
    assert [r.astimezone(BERLIN).strftime("%H:%M:%S") for r in runs] == [
        "02:15:00", "02:30:00", "02:45:00", "03:00:00", "03:15:00",
    ]  # fmt: skip


def test_spring_forward_quarter_hourly_continues_after_the_gap() -> None:
    cron = crontab(minute="*/15", tz=BERLIN)
    start = datetime(2024, 3, 31, 1, 20, tzinfo=BERLIN)
    runs = list(_beat(cron, start, start + timedelta(hours=1), timedelta(minutes=1)))
    walls = [r.astimezone(BERLIN).strftime("%H:%M") for r in runs]
    assert walls == ["01:30", "01:45", "03:00", "03:15"]


def test_shanghai_schedule_fires_at_local_time() -> None:
    cron = crontab(minute=0, hour=8, tz=SHANGHAI)
    nxt = cron.next_run_at(datetime(2024, 6, 1, 0, 30, tzinfo=UTC))  # 08:30 in Shanghai
    assert nxt == datetime(2024, 6, 2, 8, 0, tzinfo=SHANGHAI)
    assert nxt.astimezone(UTC) == datetime(2024, 6, 2, 0, 0, tzinfo=UTC)


def test_naive_last_run_at_means_utc() -> None:
    cron = crontab(minute=0, hour=8, tz=SHANGHAI)
    assert cron.next_run_at(datetime(2024, 6, 1, 0, 30)) == datetime(2024, 6, 2, 8, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("kwargs", "last", "expected"),
    [
        ({"minute": 0, "hour": 0, "day_of_month": 31}, "2024-01-31T00:00", "2024-03-31T00:00"),
        ({"minute": 0, "hour": 0, "day_of_month": 29, "month_of_year": 2},
         "2024-02-29T00:00", "2028-02-29T00:00"),
        ({"minute": 0, "hour": 0, "day_of_month": 29, "month_of_year": 2},
         "2096-02-29T00:00", "2104-02-29T00:00"),
        ({"minute": 0, "hour": 0, "day_of_month": 29, "month_of_year": 2, "day_of_week": "mon"},
         "2024-03-01T00:00", "2044-02-29T00:00"),
        ({"minute": 59, "hour": 23, "day_of_month": 31, "month_of_year": 12},
         "2024-12-31T23:59:30", "2025-12-31T23:59"),
        ({"minute": "*/30", "hour": 23, "day_of_month": "28-31"}, "2023-02-28T23:30",
         "2023-03-28T23:00"),
    ],
)  # fmt: skip
def test_month_ends_and_leap_days(kwargs: dict[str, Any], last: str, expected: str) -> None:
    cron = crontab(**kwargs, tz=SHANGHAI)
    got = cron.next_run_at(datetime.fromisoformat(last).replace(tzinfo=SHANGHAI))
    assert got == datetime.fromisoformat(expected).replace(tzinfo=SHANGHAI)


def test_remaining_delta_feeds_elapsed_time() -> None:
    now = datetime(2024, 10, 27, 1, 0, tzinfo=BERLIN)
    cron = crontab(minute=0, hour=4, tz=BERLIN, nowfun=lambda: now)
    _, delta, current = cron.remaining_delta(now)
    assert current == now
    # 01:00 CEST → 04:00 CET crosses the fall-back: four real hours.
    assert delta == timedelta(hours=4)
    assert cron.remaining_estimate(now) == timedelta(hours=4)
