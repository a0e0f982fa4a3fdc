"""The parts of the database beat that need no Django: the ``clocked`` schedule, the
``django_celery_beat`` scheduler path resolving to celeriac's scheduler, and a scheduler
class's own default loop interval."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.beat.embedded import build_scheduler, scheduler_class
from celeriac.beat.lock import SqliteLock, lock_for
from celeriac.beat.scheduler import Scheduler
from celeriac.contrib.django.beat.clocked import NEVER_CHECK_TIMEOUT, clocked
from celeriac.contrib.django.beat.schedulers import DatabaseRunStateStore, DatabaseScheduler
from celeriac.utils.time import UTC
from tests.helpers import unique_name

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


class _QuickScheduler(Scheduler):
    default_max_interval = 7.0


@pytest.mark.parametrize(("flag", "setting", "expected"), [
    (None, None, 7.0), (None, 30, 30.0), (60.0, 30, 60.0),
])
def test_a_scheduler_class_sets_the_default_loop_interval(
        tmp_path: Path, flag: float | None, setting: int | None, expected: float) -> None:
    """DatabaseScheduler looks every 5 s by default (django-celery-beat's), through this hook;
    the flag and ``beat_max_loop_interval`` still win."""
    app = Celery("t", broker=f"memory://{unique_name('quick')}")
    if setting is not None:
        app.conf.beat_max_loop_interval = setting
    scheduler = build_scheduler(app, _QuickScheduler, str(tmp_path / "schedule"), flag)
    try:
        assert scheduler.options.max_interval == expected
    finally:
        scheduler.close()
    assert DatabaseScheduler.default_max_interval == 5.0


def test_without_a_broker_lease_the_database_scheduler_uses_the_schedule_file(
        tmp_path: Path) -> None:
    amqp = Celery("t", broker="amqp://guest:guest@127.0.0.1//")
    store = DatabaseRunStateStore(str(tmp_path / "celerybeat-schedule"))
    lock = lock_for(amqp, "me", lambda: 0.0, store)
    try:
        assert isinstance(lock, SqliteLock) and lock.db.path == store.path
    finally:
        lock.close()
    assert DatabaseRunStateStore("redis://localhost/0").path is None
