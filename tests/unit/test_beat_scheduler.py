"""The beat scheduler driven by a fake clock on an in-process broker: what gets sent, and when."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat.embedded import build_scheduler, scheduler_class
from celeriac.beat.entry import entry_from_spec
from celeriac.beat.lock import MemoryLock, SqliteLock, lock_for
from celeriac.beat.schedule_codec import decode_schedule, encode_schedule
from celeriac.beat.scheduler import BeatOptions, Scheduler
from celeriac.beat.sources import ScheduleSourceError, SqliteScheduleSource
from celeriac.beat.store import (
    MemoryScheduleStore,
    ScheduleStore,
    SqliteScheduleStore,
    open_store,
)
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.message import TaskMessage
from celeriac.schedules import crontab, schedule, solar

_ids = itertools.count()
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """The scheduler's clock; tests move it forward instead of sleeping."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"beat-unit-{next(_ids)}-{id(object())}"
    application = Celery("t", broker=f"memory://{name}", backend=f"cache+memory://{name}")

    @application.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield application
    application.close()


def sent(app: Celery, queue: str = "celery") -> list[TaskMessage]:
    """Every message waiting in ``queue`` (taken off the broker)."""
    channel = app.transport.channel()
    try:
        deliveries = channel.fetch([queue], 100, 0)
        channel.ack(deliveries)
    finally:
        channel.close()
    return [d.message for d in deliveries]


def args_of(message: TaskMessage) -> list[Any]:
    return list(json.loads(message.body)[0])


def make_scheduler(
    app: Celery,
    clock: FakeClock,
    *,
    store: ScheduleStore | None = None,
    max_interval: float = 60.0,
    **kwargs: Any,
) -> Scheduler:
    return Scheduler(
        app,
        BeatOptions(max_interval=max_interval, schedule_filename=None),
        clock=clock,
        store=store if store is not None else MemoryScheduleStore(),
        **kwargs,
    )


def test_interval_entry_runs_once_per_interval_starting_one_interval_after_start(
    app: Celery,
) -> None:
    app.conf.beat_schedule = {"add-10s": {"task": "t.add", "schedule": 10.0, "args": (2, 3)}}
    clock = FakeClock()
    scheduler = make_scheduler(app, clock)
    runs: list[float] = []
    for _ in range(40):  # 40 s in 1 s steps
        scheduler.tick()
        runs.extend((clock.now - T0).total_seconds() for _ in sent(app))
        clock.advance(1)
    assert runs == [10.0, 20.0, 30.0]
    assert scheduler.entries["add-10s"].total_run_count == 3


def test_sent_message_carries_entry_args_and_kwargs(app: Celery) -> None:
    app.conf.beat_schedule = {
        "e": {"task": "t.add", "schedule": timedelta(seconds=5), "args": [1], "kwargs": {"y": 4}}
    }
    clock = FakeClock()
    scheduler = make_scheduler(app, clock)
    scheduler.tick()
    clock.advance(5)
    scheduler.tick()
    [message] = sent(app)
    assert message.headers["task"] == "t.add"
    assert json.loads(message.body)[:2] == [[1], {"y": 4}]


def test_tick_sleeps_until_next_due_and_never_past_half_the_max_interval(app: Celery) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 7.0, "args": (1, 1)}}
    clock = FakeClock()
    scheduler = make_scheduler(app, clock, max_interval=60)
    assert scheduler.tick() == pytest.approx(7.0)
    scheduler.close()  # release the lease, or the next one would only stand by
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 3600.0, "args": (1, 1)}}
    scheduler = make_scheduler(app, FakeClock(), max_interval=60)
    assert scheduler.tick() == pytest.approx(30.0)


def test_crontab_entry_fires_at_local_wall_clock_time(app: Celery) -> None:
    app.conf.timezone = "Asia/Shanghai"  # UTC+8: 09:00 there is 01:00 UTC
    app.conf.beat_schedule = {
        "morning": {"task": "t.add", "schedule": crontab(minute=0, hour=9), "args": (0, 0)}
    }
    clock = FakeClock(datetime(2024, 3, 1, 0, 58, tzinfo=UTC))
    scheduler = make_scheduler(app, clock, max_interval=3600)
    fired: list[datetime] = []
    for _ in range(26 * 60):  # a day and two hours, minute by minute
        scheduler.tick()
        fired.extend(clock.now for _ in sent(app))
        clock.advance(60)
    assert fired == [
        datetime(2024, 3, 1, 1, 0, tzinfo=UTC),
        datetime(2024, 3, 2, 1, 0, tzinfo=UTC),
    ]


def test_solar_entry_is_accepted_and_waits_for_its_event(app: Celery) -> None:
    app.conf.beat_schedule = {"dusk": {"task": "t.add", "schedule": solar("sunset", 52.5, 13.4)}}
    scheduler = make_scheduler(app, FakeClock(), max_interval=60)
    assert scheduler.tick() == pytest.approx(30.0)
    assert sent(app) == []


def test_options_reach_the_message_queue_priority_and_expires(app: Celery) -> None:
    app.conf.beat_schedule = {
        "e": {
            "task": "t.add",
            "schedule": 1.0,
            "args": (1, 2),
            "options": {"queue": "periodic", "priority": 7, "expires": 30},
        }
    }
    clock = FakeClock()
    scheduler = make_scheduler(app, clock)
    scheduler.tick()
    clock.advance(1)
    scheduler.tick()
    assert sent(app) == []  # not on the default queue
    [message] = sent(app, "periodic")
    assert message.properties["priority"] == 7
    assert message.headers["expires"] is not None


def test_add_periodic_task_in_on_after_configure_handler(app: Celery) -> None:
    add = app.tasks["t.add"]

    @app.on_after_configure.connect
    def setup(sender: Celery, **kwargs: Any) -> None:
        sender.add_periodic_task(5.0, add.s(2, 3), name="add every 5")
        sender.add_periodic_task(5.0, add.s(1), args=(9,), queue="other")

    scheduler = build_scheduler(app, max_interval=60)
    clock = FakeClock()
    scheduler.clock = scheduler.context.clock = clock
    scheduler.store = MemoryScheduleStore()
    scheduler.tick()
    clock.advance(5)
    scheduler.tick()
    [message] = sent(app)
    assert args_of(message) == [2, 3]
    [other] = sent(app, "other")
    assert args_of(other) == [1, 9]
    assert "add every 5" in scheduler.entries


def test_beat_schedule_entry_without_task_is_refused_naming_it() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'broken'.*'task'"):
        entry_from_spec("broken", {"schedule": 5})
    with pytest.raises(ImproperlyConfigured, match=r"'odd'.*schedule"):
        entry_from_spec("odd", {"task": "t.add", "schedule": "soon"})


# -- persistence -------------------------------------------------------------------------


def run_span(scheduler: Scheduler, clock: FakeClock, app: Celery, seconds: int) -> list[float]:
    """Tick every second for ``seconds``; the offsets from T0 at which something was sent."""
    runs: list[float] = []
    for _ in range(seconds):
        scheduler.tick()
        runs.extend((clock.now - T0).total_seconds() for _ in sent(app))
        clock.advance(1)
    return runs


def test_restart_neither_reruns_early_nor_skips(app: Celery, tmp_path: Path) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 10.0, "args": (1, 1)}}
    path = str(tmp_path / "celerybeat-schedule")
    clock = FakeClock()
    first = make_scheduler(app, clock, store=SqliteScheduleStore(path))
    assert run_span(first, clock, app, 14) == [10.0]
    first.close()  # down from t=14 to t=16, nothing fell due
    clock.advance(2)
    second = make_scheduler(app, clock, store=SqliteScheduleStore(path))
    assert run_span(second, clock, app, 15) == [20.0, 30.0]
    second.close()


def test_restart_after_missed_runs_catches_up_exactly_once(app: Celery, tmp_path: Path) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 10.0, "args": (1, 1)}}
    path = str(tmp_path / "state.db")
    clock = FakeClock()
    first = make_scheduler(app, clock, store=SqliteScheduleStore(path))
    assert run_span(first, clock, app, 11) == [10.0]
    first.close()
    clock.advance(34)  # down 11..45: runs at 20, 30, 40 were missed
    second = make_scheduler(app, clock, store=SqliteScheduleStore(path))
    assert run_span(second, clock, app, 12) == [45.0, 55.0]
    assert second.entries["e"].total_run_count == 3
    second.close()


def test_store_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "celerybeat-schedule"
    path.write_bytes(b"\x00\x06\x15\x61 a gdbm shelve")
    with pytest.raises(ImproperlyConfigured, match="not a celeriac schedule file"):
        SqliteScheduleStore(str(path)).load()


# -- the database-backed source ----------------------------------------------------------


def test_sqlite_source_changes_are_picked_up_at_the_next_tick(app: Celery, tmp_path: Path) -> None:
    source = SqliteScheduleSource(str(tmp_path / "entries.db"))
    clock = FakeClock()
    scheduler = make_scheduler(app, clock, sources=[source])
    scheduler.tick()
    source.add("dyn", "t.add", 5, args=(1, 2))
    clock.advance(1)
    scheduler.tick()
    assert list(scheduler.entries) == ["dyn"]
    clock.advance(5)
    scheduler.tick()
    assert [args_of(m) for m in sent(app)] == [[1, 2]]
    source.update("dyn", args=[7, 8], schedule=2)
    clock.advance(2)
    scheduler.tick()
    assert [args_of(m) for m in sent(app)] == [[7, 8]]
    source.disable("dyn")
    for _ in range(10):
        clock.advance(2)
        scheduler.tick()
    assert sent(app) == []
    assert scheduler.entries == {}


def test_sqlite_source_rejects_duplicates_and_unknown_names(tmp_path: Path) -> None:
    source = SqliteScheduleSource(str(tmp_path / "entries.db"))
    source.add("a", "t.add", "*/5 * * * *")
    with pytest.raises(ScheduleSourceError, match="already exists"):
        source.add("a", "t.add", 5)
    with pytest.raises(ScheduleSourceError, match="no beat entry named 'b'"):
        source.disable("b")
    [entry] = source.load().values()
    assert isinstance(entry.schedule, crontab)
    assert entry.schedule.minute == set(range(0, 60, 5))


def test_schedule_codec_round_trips_the_builtin_schedules() -> None:
    for value in (
        schedule(30),
        crontab("*/3,8-12", "9", "mon-fri", tz="Europe/Berlin"),
        solar("dusk_civil", 48.1, 11.6),
    ):
        data = json.loads(json.dumps(encode_schedule(value)))
        assert decode_schedule(data) == value
    assert encode_schedule(timedelta(minutes=1), relative=True) == {
        "type": "interval",
        "every": 60.0,
        "relative": True,
    }


# -- one active beat ----------------------------------------------------------------------


def test_two_schedulers_sharing_a_lease_send_each_run_once(app: Celery) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 2.0, "args": (1, 1)}}
    clock = FakeClock()
    store = MemoryScheduleStore()
    first = make_scheduler(app, clock, store=store)
    second = make_scheduler(app, clock, store=store)
    runs: list[float] = []
    for _ in range(20):
        first.tick()
        second.tick()
        runs.extend((clock.now - T0).total_seconds() for _ in sent(app))
        clock.advance(1)
    assert runs == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]
    assert first.active and not second.active


def test_standby_takes_over_after_the_lease_expires(app: Celery) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 1.0, "args": (1, 1)}}
    clock = FakeClock()
    store = MemoryScheduleStore()
    active = make_scheduler(app, clock, store=store, max_interval=4)
    standby = make_scheduler(app, clock, store=store, max_interval=4)
    active.tick()
    standby.tick()
    clock.advance(1)
    active.tick()  # last renewal at t=1, then it "dies"; lease lasts 1.5 x 4 = 6 s
    assert len(sent(app)) == 1
    taken_at = None
    while taken_at is None:
        clock.advance(standby.tick())
        if sent(app):
            taken_at = (clock.now - T0).total_seconds()
    assert 7.0 <= taken_at <= 1 + 2 * 4


def test_clean_stop_hands_over_at_the_standbys_next_tick(app: Celery) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 1.0, "args": (1, 1)}}
    clock = FakeClock()
    store = MemoryScheduleStore()
    active = make_scheduler(app, clock, store=store)
    standby = make_scheduler(app, clock, store=store)
    active.tick()
    standby.tick()
    clock.advance(1)
    active.tick()
    active.close()
    standby.tick()
    assert standby.active
    assert len(sent(app)) == 1  # the standby continues from the shared state: no double run
    clock.advance(1)
    standby.tick()
    assert len(sent(app)) == 1


def test_sqlite_lease_excludes_a_second_holder_until_expiry(tmp_path: Path) -> None:
    now = [1000.0]
    path = str(tmp_path / "broker.db")
    first = SqliteLock(path, "a", lambda: now[0])
    second = SqliteLock(path, "b", lambda: now[0])
    assert first.acquire(10)
    assert not second.acquire(10)
    now[0] += 9
    assert first.acquire(10)  # renewed until 1019
    now[0] += 9
    assert not second.acquire(10)
    now[0] += 1.5
    assert second.acquire(10)
    assert not first.acquire(10)
    second.release()
    assert first.acquire(10)


def test_memory_lease_is_per_broker() -> None:
    now = [0.0]
    assert MemoryLock("memory://x-lease", "a", lambda: now[0]).acquire(5)
    assert not MemoryLock("memory://x-lease", "b", lambda: now[0]).acquire(5)
    assert MemoryLock("memory://y-lease", "b", lambda: now[0]).acquire(5)


def test_scheduler_class_maps_celery_defaults_and_imports_paths() -> None:
    assert scheduler_class("celery.beat:PersistentScheduler") is Scheduler
    assert scheduler_class("django_celery_beat.schedulers:X", from_config=True) is Scheduler
    assert scheduler_class("celeriac.beat.scheduler:PersistentScheduler") is Scheduler
    with pytest.raises(ImproperlyConfigured, match="not a subclass"):
        scheduler_class("celeriac.beat.store:MemoryScheduleStore")


def test_open_store_takes_a_path_a_sqlite_url_or_nothing(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryScheduleStore)
    by_path = open_store(str(tmp_path / "s"))
    by_url = open_store(f"sqlite:///{tmp_path}/u.db")
    assert isinstance(by_path, SqliteScheduleStore) and by_path.path == str(tmp_path / "s")
    assert isinstance(by_url, SqliteScheduleStore) and by_url.path == str(tmp_path / "u.db")
    with pytest.raises(ImproperlyConfigured, match="ftp:// is not supported"):
        open_store("ftp://host/x")


def test_broker_without_a_lease_uses_the_schedule_file(tmp_path: Path) -> None:
    broker = Celery("t", broker="amqp://guest:guest@127.0.0.1//")
    store = SqliteScheduleStore(str(tmp_path / "celerybeat-schedule"))
    lock = lock_for(broker, "me", lambda: 0.0, store)
    assert isinstance(lock, SqliteLock) and lock.db.path == store.path
