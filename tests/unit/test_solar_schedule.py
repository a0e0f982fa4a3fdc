"""Solar schedules (NOAA formulas) agree with Celery + ephem (golden file) within a minute."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from celeriac.schedules import Schedule, solar

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "crontab_golden.json").read_text())


@pytest.mark.parametrize(
    "row", GOLDEN["solar"], ids=lambda r: f"{r['event']}@{r['lat']},{r['lon']}:{r['last_run_at']}"
)
def test_next_event_close_to_celery_with_ephem(row: dict[str, Any]) -> None:
    last = datetime.fromisoformat(row["last_run_at"])
    ours = solar(row["event"], row["lat"], row["lon"]).next_event(last)
    assert abs(ours - datetime.fromisoformat(row["next_utc"])) < timedelta(seconds=60)


def test_is_due_and_remaining() -> None:
    sunrise = solar("sunrise", 52.52, 13.40).next_event(datetime(2024, 6, 1, tzinfo=UTC))
    before = sunrise - timedelta(minutes=5)
    sched = solar("sunrise", 52.52, 13.40, nowfun=lambda: before)
    due, next_check = sched.is_due(datetime(2024, 6, 1, tzinfo=UTC))
    assert (due, round(next_check)) == (False, 300)
    after = sunrise + timedelta(seconds=1)
    sched.nowfun = lambda: after
    due, next_check = sched.is_due(datetime(2024, 6, 1, tzinfo=UTC))
    assert due
    assert 23 * 3600 < next_check < 25 * 3600  # tomorrow's sunrise


def test_validation_repr_and_equality() -> None:
    with pytest.raises(ValueError, match='Argument event "noon" is invalid'):
        solar("noon", 0, 0)
    with pytest.raises(ValueError, match="latitude 91 is invalid"):
        solar("sunset", 91, 0)
    with pytest.raises(ValueError, match="longitude -181 is invalid"):
        solar("sunset", 0, -181)
    sched = solar("sunset", 52.5, 13.4)
    assert repr(sched) == "<solar: sunset at latitude 52.5, longitude: 13.4>"
    assert sched == solar("sunset", 52.5, 13.4)
    assert sched != solar("sunrise", 52.5, 13.4)
    assert isinstance(sched, Schedule)


def test_polar_night_searches_ahead() -> None:
    # Tromsø has no sunrise from late November to mid January.
    nxt = solar("sunrise", 69.65, 18.96).next_event(datetime(2024, 12, 1, tzinfo=UTC))
    assert datetime(2025, 1, 10, tzinfo=UTC) < nxt < datetime(2025, 1, 20, tzinfo=UTC)
