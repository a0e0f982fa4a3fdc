"""The parts of the database beat that need no Django: the ``clocked`` schedule and the
``django_celery_beat`` scheduler path resolving to celeriac's scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from celeriac.beat.embedded import scheduler_class
from celeriac.beat.timeutils import UTC
from celeriac.contrib.django.beat.clocked import NEVER_CHECK_TIMEOUT, clocked
from celeriac.contrib.django.beat.schedulers import DatabaseScheduler

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("path", [
    "django_celery_beat.schedulers:DatabaseScheduler",
    "django_celery_beat.schedulers.DatabaseScheduler",
    "celeriac.contrib.django.beat.schedulers:DatabaseScheduler",
])
@pytest.mark.parametrize("from_config", [False, True])
def test_database_scheduler_paths_resolve_to_celeriacs(path: str, from_config: bool) -> None:
    assert scheduler_class(path, from_config=from_config) is DatabaseScheduler


def test_clocked_waits_for_its_time_then_is_due_once() -> None:
    before = clocked(AT, nowfun=lambda: AT - timedelta(seconds=90))
    assert before.is_due(AT - timedelta(days=1)) == (False, 90.0)
    after = clocked(AT, nowfun=lambda: AT + timedelta(seconds=1))
    assert after.is_due(AT) == (True, NEVER_CHECK_TIMEOUT)


def test_clocked_naive_time_is_utc() -> None:
    naive = clocked(datetime(2026, 3, 1, 12, 0), nowfun=lambda: AT)
    assert naive.clocked_time == AT
    assert naive == clocked(AT)
    assert naive.remaining_estimate(None) == timedelta(0)
