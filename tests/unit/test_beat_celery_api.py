"""Celery's scheduler API on celeriac's beat: the hooks a custom scheduler overrides.

Signatures are compared with Celery's own classes; behaviour is driven by a fake clock on an
in-process broker, as in test_beat_scheduler.py.
"""

from __future__ import annotations

import inspect
import itertools
import pickle
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat import (
    BeatLazyFunc,
    PersistentScheduler,
    ScheduleEntry,
    Scheduler,
    SchedulingError,
    Service,
    event_t,
)
from celeriac.beat.store import MemoryScheduleStore
from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import schedule
from tests.unit.test_beat_scheduler import T0, FakeClock, args_of, sent

celery_beat = pytest.importorskip("celery.beat")
_ids = itertools.count()


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"beat-api-{next(_ids)}-{id(object())}"
    application = Celery("t", broker=f"memory://{name}")

    @application.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield application


def build(app: Celery, cls: type[Scheduler] = Scheduler, **kwargs: Any) -> Scheduler:
    return cls(app, max_interval=60, schedule_filename=None, clock=FakeClock(),
               store=MemoryScheduleStore(), **kwargs)


def run_ticks(scheduler: Scheduler, seconds: int) -> None:
    clock = scheduler.clock
    assert isinstance(clock, FakeClock)
    for _ in range(seconds):
        scheduler.tick()
        clock.advance(1)


@pytest.mark.parametrize("name", ["Scheduler", "ScheduleEntry", "Service"])
def test_constructor_parameters_match_celery(name: str) -> None:
    import celeriac.beat

    def named(cls: Any) -> list[str]:
        return [p.name for p in inspect.signature(cls).parameters.values()
                if p.kind is p.POSITIONAL_OR_KEYWORD]

    theirs, mine = named(getattr(celery_beat, name)), named(getattr(celeriac.beat, name))
    assert mine[:len(theirs)] == theirs


@pytest.mark.parametrize("method", [
    "tick", "is_due", "apply_entry", "apply_async", "setup_schedule", "sync", "reserve",
    "populate_heap", "schedules_equal", "get_schedule", "set_schedule", "add",
    "update_from_dict", "merge_inplace", "install_default_entries", "send_task", "adjust",
    "should_sync", "close",
])
def test_overridable_methods_have_celerys_parameters(method: str) -> None:
    theirs = inspect.signature(getattr(celery_beat.Scheduler, method)).parameters
    mine = inspect.signature(getattr(Scheduler, method)).parameters
    assert list(mine) == list(theirs)


def test_entry_behaves_like_celerys(app: Celery) -> None:
    entry = ScheduleEntry("e", "t.add", T0, None, schedule(10), (1, 2), None, None)
    nxt = next(entry)
    assert (nxt.name, nxt.total_run_count, nxt.args) == ("e", 1, (1, 2))
    assert nxt.last_run_at > T0
    assert nxt == entry  # editable fields only, as Celery
    assert dict(entry)["task"] == "t.add"
    entry.update(ScheduleEntry("e", "t.other", schedule=schedule(5)))
    assert (entry.task, entry.last_run_at) == ("t.other", T0)
    assert pickle.loads(pickle.dumps(entry)).task == "t.other"


def test_a_setup_schedule_override_adds_entries_that_run(app: Celery) -> None:
    class FromCode(Scheduler):
        def setup_schedule(self) -> None:
            super().setup_schedule()
            self.update_from_dict({"code": {"task": "t.add", "schedule": 5.0, "args": (1, 1)}})
            self.add(name="added", task="t.add", schedule=timedelta(seconds=10), args=(2, 2))

    scheduler = build(app, FromCode)
    assert set(scheduler.schedule) == {"code", "added"}
    run_ticks(scheduler, 11)
    assert sorted(args_of(m) for m in sent(app)) == [[1, 1], [1, 1], [2, 2]]
    assert scheduler.schedule["code"].total_run_count == 2


def test_config_entries_join_the_celery_api_entries(app: Celery) -> None:
    app.conf.beat_schedule = {"conf": {"task": "t.add", "schedule": 5.0, "args": (3, 3)}}
    scheduler = build(app, schedule={"given": {"task": "t.add", "schedule": 5.0,
                                               "args": (4, 4)}})
    run_ticks(scheduler, 6)
    assert sorted(args_of(m) for m in sent(app)) == [[3, 3], [4, 4]]


def test_lazy_skips_setup_schedule(app: Celery) -> None:
    calls: list[bool] = []

    class Counting(Scheduler):
        def setup_schedule(self) -> None:
            calls.append(True)

    build(app, Counting, lazy=True)
    build(app, Counting)
    assert calls == [True]


def test_a_schedule_property_override_is_read_every_tick(app: Celery) -> None:
    table: dict[str, Any] = {}

    class FromTable(Scheduler):
        @property
        def schedule(self) -> dict[str, Any]:
            return table

    scheduler = build(app, FromTable)
    scheduler.tick()
    table["late"] = ScheduleEntry("late", "t.add", T0, schedule=schedule(1, app=scheduler.context),
                                  args=(5, 5))
    run_ticks(scheduler, 2)
    assert [args_of(m) for m in sent(app)] == [[5, 5]]


def test_is_due_and_apply_entry_overrides_are_called(app: Celery) -> None:
    applied: list[str] = []

    class Gate(Scheduler):
        def is_due(self, entry: ScheduleEntry) -> tuple[bool, float]:
            return entry.name == "open", 1.0

        def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
            applied.append(entry.name)

    scheduler = build(app, Gate, schedule={
        name: {"task": "t.add", "schedule": 100.0, "args": (0, 0)} for name in ("open", "shut")})
    run_ticks(scheduler, 3)
    assert applied == ["open"] * 3
    assert scheduler.schedule["open"].total_run_count == 3  # None counts as sent, as Celery
    assert sent(app) == []


def test_sync_runs_every_sync_every_tasks_sends(app: Celery) -> None:
    syncs: list[int] = []

    class Syncing(Scheduler):
        def sync(self) -> None:
            syncs.append(self._tasks_since_sync)
            super().sync()

    scheduler = build(app, Syncing, sync_every_tasks=2,
                      schedule={"e": {"task": "t.add", "schedule": 1.0, "args": (0, 0)}})
    run_ticks(scheduler, 6)
    # the first send syncs (no sync yet), then every second one; close() syncs once more
    scheduler.close()
    assert syncs == [1, 2, 2, 0]


def test_a_failed_send_raises_scheduling_error_and_does_not_advance(app: Celery) -> None:
    class Broken(Scheduler):
        def send_task(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("down")

    scheduler = build(app, Broken, schedule={
        "e": {"task": "t.unregistered", "schedule": 1.0}})
    entry = scheduler.schedule["e"]
    with pytest.raises(SchedulingError, match="Couldn't apply scheduled task e: down"):
        scheduler.apply_async(entry, advance=False)
    run_ticks(scheduler, 3)
    assert scheduler.schedule["e"].total_run_count == 0


def test_beat_lazy_func_args_are_evaluated_at_send(app: Celery) -> None:
    counter = itertools.count(7)
    scheduler = build(app, schedule={"e": {"task": "t.add", "schedule": 1.0,
                                           "args": (BeatLazyFunc(next, counter), 1)}})
    run_ticks(scheduler, 3)
    assert [args_of(m) for m in sent(app)] == [[7, 1], [8, 1]]
    assert sent(app) == []


def test_sent_messages_carry_celerys_beat_header(app: Celery) -> None:
    scheduler = build(app, schedule={"e": {"task": "t.add", "schedule": 1.0, "args": (0, 0)}})
    run_ticks(scheduler, 2)
    [message] = sent(app)
    assert message.headers["celery_beat_task"] is True


def test_heap_holds_event_t_items(app: Celery) -> None:
    scheduler = build(app, schedule={"e": {"task": "t.add", "schedule": 5.0, "args": (0, 0)}})
    scheduler.tick()
    assert scheduler._heap is not None
    [item] = scheduler._heap
    assert isinstance(item, event_t) and item.entry.name == "e"


def test_max_interval_class_attribute_and_setter(app: Celery) -> None:
    class Quick(Scheduler):
        max_interval = 2

    assert Quick(app, schedule_filename=None, store=MemoryScheduleStore()).options \
        .max_interval == 2.0
    scheduler = build(app)
    scheduler.max_interval = 9
    assert scheduler.options.max_interval == 9.0


def test_a_producer_class_and_remote_control_are_refused(app: Celery) -> None:
    with pytest.raises(ImproperlyConfigured, match="producer"):
        Scheduler(app, Producer=object, schedule_filename=None)
    with pytest.raises(ImproperlyConfigured, match="remote control"):
        Service(app, remote_control=True)


def test_persistent_scheduler_is_the_default_one() -> None:
    assert issubclass(PersistentScheduler, Scheduler)


def test_service_runs_the_scheduler_until_stopped(app: Celery, tmp_path: Path) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 0.05, "args": (1, 2)}}
    service = Service(app, max_interval=0.1, schedule_filename=str(tmp_path / "beat-state"))
    assert type(service.scheduler) is Scheduler
    thread = threading.Thread(target=service.start)
    thread.start()
    try:
        from tests.helpers import wait_until

        wait_until(lambda: service.scheduler.schedule.get("e") is not None
                   and service.scheduler.schedule["e"].total_run_count >= 2, 10)
    finally:
        service.stop(wait=True)
        thread.join(10)
    assert not thread.is_alive()
    assert not service.scheduler.active


def test_embedded_service_is_a_beat_thread(app: Celery, tmp_path: Path) -> None:
    from celeriac.beat import EmbeddedService

    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 0.05, "args": (1, 2)}}
    beat = EmbeddedService(app, max_interval=0.1, schedule_filename=str(tmp_path / "s"),
                           thread=True)
    beat.start()
    try:
        from tests.helpers import wait_until

        wait_until(lambda: len(sent(app)) > 0, 10)
    finally:
        beat.stop()
    beat.join(10)
    assert not beat.is_alive() and beat.name == "Beat"
