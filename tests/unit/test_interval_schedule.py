"""``schedule(run_every)``: remaining time and is_due equal Celery's (golden file), DST included."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac.schedules import Schedule, crontab, maybe_schedule, schedule

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "crontab_golden.json").read_text())


class FakeApp:
    def __init__(self, timezone: str) -> None:
        self.timezone = timezone


@pytest.mark.parametrize(
    "row",
    GOLDEN["intervals"],
    ids=lambda r: f"{r['run_every']}s-rel{int(r['relative'])}@{r['tz']}:{r['now']}",
)
def test_interval_equals_celerys(row: dict[str, Any]) -> None:
    zone = ZoneInfo(row["tz"])  # the golden ran on zone-aware datetimes, not fixed offsets
    now = datetime.fromisoformat(row["now"]).astimezone(zone)
    sched = schedule(
        timedelta(seconds=row["run_every"]),
        row["relative"],
        nowfun=lambda: now,
        app=FakeApp(row["tz"]),
    )
    last = datetime.fromisoformat(row["last_run_at"]).astimezone(zone)
    assert sched.remaining_estimate(last).total_seconds() == row["remaining"]
    assert tuple(sched.is_due(last)) == (row["is_due"], row["next"])
    assert repr(sched) == row["repr"]
    assert sched.human_seconds == row["human_seconds"]


def test_seconds_repr_and_number_argument() -> None:
    sched = schedule(90)
    assert sched.run_every == timedelta(seconds=90)
    assert sched.seconds == 90
    assert repr(sched) == "<freq: 1.50 minutes>"
    assert schedule(timedelta(hours=1)).human_seconds == "1.00 hour"
    assert schedule(0).human_seconds == "now"
    assert schedule(timedelta(seconds=-5)).seconds == 0


def test_equality_like_celery() -> None:
    assert schedule(10) == schedule(timedelta(seconds=10))
    assert schedule(10) == timedelta(seconds=10)
    assert schedule(10) != schedule(11)


def test_bad_interval_type() -> None:
    with pytest.raises(TypeError, match="run_every must be a number of seconds or a timedelta"):
        schedule("10")  # type: ignore[arg-type]


def test_naive_times_are_utc() -> None:
    now = datetime(2024, 5, 1, 12, 0, 5)
    sched = schedule(10, nowfun=lambda: now, app=FakeApp("Asia/Shanghai"))
    assert sched.remaining_estimate(datetime(2024, 5, 1, 12, 0, 0)) == timedelta(seconds=5)


def test_maybe_schedule() -> None:
    assert maybe_schedule(None) is None
    assert maybe_schedule(5) == schedule(5)
    assert maybe_schedule(timedelta(minutes=1), relative=True).relative  # type: ignore[union-attr]
    app = FakeApp("Europe/Berlin")
    cron = crontab()
    assert maybe_schedule(cron, app=app) is cron
    assert cron.app is app
    assert maybe_schedule(cron).app is app  # type: ignore[union-attr]


def test_satisfies_schedule_protocol() -> None:
    assert isinstance(schedule(1), Schedule)
