"""``celeriac.events.state``: Celery's precedence rules, LRU bounds, worker liveness, indexes."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest

from celeriac import states
from celeriac.events.snapshot import Polaroid, RepeatingTimer, shutters_per_second
from celeriac.events.state import State, Task, Worker, heartbeat_expires
from celeriac.events.state_lru import LRUCache
from celeriac.exceptions import ImproperlyConfigured

_clock = [0]


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    """An event as the receiver hands it on (clock, timestamp, local_received filled in)."""
    _clock[0] += 1
    now = time.time()
    return {"hostname": "w1@host", "pid": 10, "clock": _clock[0], "timestamp": now,
            "local_received": now, "utcoffset": 0.0, "type": type_, **fields}


def task_events(uuid: str, name: str = "proj.add") -> dict[str, dict[str, Any]]:
    return {
        "received": ev("task-received", uuid=uuid, name=name, args="(2, 3)", kwargs="{}",
                       retries=0, eta=None, expires=None, root_id=uuid, parent_id=None),
        "started": ev("task-started", uuid=uuid),
        "succeeded": ev("task-succeeded", uuid=uuid, result="5", runtime=0.01),
    }


def test_task_walks_through_its_states_and_keeps_each_timestamp() -> None:
    state = State()
    events = task_events("t1")
    for name in ("received", "started", "succeeded"):
        state.event(events[name])
    task = state.tasks["t1"]
    assert task.state == states.SUCCESS
    assert task.name == "proj.add" and task.args == "(2, 3)" and task.result == "5"
    assert task.runtime == 0.01
    assert task.received == events["received"]["timestamp"]
    assert task.started == events["started"]["timestamp"]
    assert task.succeeded == events["succeeded"]["timestamp"]
    assert task.worker is state.workers["w1@host"]
    assert task.ready and state.task_count == 1 and state.event_count == 3


def test_out_of_order_events_do_not_regress_the_state() -> None:
    state = State()
    events = task_events("t2")
    state.event(events["succeeded"])
    state.event(events["started"])
    state.event(events["received"])
    task = state.tasks["t2"]
    assert task.state == states.SUCCESS
    # task-received is still the authority on name and args, even arriving last.
    assert task.name == "proj.add" and task.args == "(2, 3)"
    assert task.started is not None and task.received is not None
    assert set(state.tasks_by_type["proj.add"]) == {task}


def test_failure_beats_started_and_retry_can_move_back() -> None:
    state = State()
    state.event(ev("task-failed", uuid="t3", exception="ValueError('x')", traceback="tb"))
    state.event(ev("task-started", uuid="t3"))
    task = state.tasks["t3"]
    assert task.state == states.FAILURE
    assert task.exception == "ValueError('x')" and task.traceback == "tb"

    state.event(ev("task-received", uuid="t4", name="proj.flaky"))
    state.event(ev("task-started", uuid="t4"))
    state.event(ev("task-retried", uuid="t4", exception="Retry()", traceback=""))
    assert state.tasks["t4"].state == states.RETRY
    state.event(ev("task-started", uuid="t4"))  # the retry runs again
    assert state.tasks["t4"].state == states.STARTED
    state.event(ev("task-revoked", uuid="t5", terminated=True, signum=9, expired=False))
    assert state.tasks["t5"].state == states.REVOKED
    assert state.tasks["t5"].revoked is not None
    state.event(ev("task-rejected", uuid="t6", requeue=False))
    assert state.tasks["t6"].state == states.REJECTED


def test_task_sent_marks_the_client_and_stays_pending() -> None:
    state = State()
    state.event({**ev("task-sent", uuid="t7", name="proj.add"), "hostname": "client@h"})
    task = state.tasks["t7"]
    assert task.state == states.PENDING and task.client == "client@h" and task.worker is None
    assert task.origin == "client@h"
    assert "client@h" not in state.workers


def test_tasks_bounded_by_max_tasks_in_memory_and_time_index_forgets_them() -> None:
    state = State(max_tasks_in_memory=3)
    for index in range(5):
        state.event(ev("task-received", uuid=f"u{index}", name="proj.add"))
    assert list(state.tasks) == ["u2", "u3", "u4"]
    assert [uuid for uuid, _ in state.tasks_by_time()] == ["u4", "u3", "u2"]
    assert [uuid for uuid, _ in state.tasks_by_time(reverse=False, limit=None)][:1] == ["u2"]
    assert state.task_count == 5


def test_workers_bounded_by_max_workers_in_memory() -> None:
    state = State(max_workers_in_memory=2)
    for index in range(3):
        state.event({**ev("worker-online", freq=2.0), "hostname": f"w{index}@h"})
    assert sorted(state.workers) == ["w1@h", "w2@h"]


def test_lru_lookup_keeps_an_entry_iteration_does_not() -> None:
    cache: LRUCache[str, int] = LRUCache(limit=2)
    cache["a"], cache["b"] = 1, 2
    assert cache.items() == [("a", 1), ("b", 2)]  # reading all is no use
    assert cache["a"] == 1  # a lookup is
    cache["c"] = 3
    assert dict(cache.items()) == {"a": 1, "c": 3}


def test_worker_alive_from_heartbeat_age_and_freq_then_offline() -> None:
    state = State()
    (worker, created), subject = state.event(ev(
        "worker-online", freq=2.0, active=0, processed=0, loadavg=[0.1, 0.2, 0.3],
        sw_ident="py-celery", sw_ver="5.7.0", sw_sys="Linux"))
    assert created and subject == "online"
    assert worker.alive and worker.status_string == "ONLINE"
    assert worker.loadavg == [0.1, 0.2, 0.3] and worker.sw_ident == "py-celery"
    state.event(ev("worker-heartbeat", freq=2.0, active=1, processed=4))
    assert worker.active == 1 and worker.processed == 4 and len(worker.heartbeats) == 2
    assert list(state.alive_workers()) == [worker]
    # A heartbeat older than freq * 200% no longer vouches for the worker.
    worker.heartbeats[:] = [time.time() - 4.1]
    assert not worker.alive and worker.status_string == "OFFLINE"
    state.event(ev("worker-heartbeat", freq=2.0))
    assert worker.alive
    state.event(ev("worker-offline", freq=2.0))
    assert not worker.alive and worker.heartbeats == []
    assert list(state.alive_workers()) == []
    assert heartbeat_expires(100.0, 2.0) == 104.0


def test_only_the_last_four_heartbeats_are_kept_sorted() -> None:
    worker = Worker("w@h", freq=2.0)
    now = time.time()
    for offset in (5, 1, 3, 2, 4, 0):
        worker.event("heartbeat", now - offset, now - offset)
    assert worker.heartbeats == sorted(worker.heartbeats) and len(worker.heartbeats) == 4


def test_node_join_and_leave_callbacks() -> None:
    joined: list[str] = []
    left: list[str] = []
    state = State(on_node_join=lambda w: joined.append(str(w.hostname)),
                  on_node_leave=lambda w: left.append(str(w.hostname)))
    state.event(ev("worker-online", freq=2.0))
    state.event(ev("worker-offline", freq=2.0))
    assert joined == ["w1@host"] and left == ["w1@host"]
    assert "w1@host" not in state.workers  # with a leave callback the worker is dropped


def test_indexes_by_type_and_worker_and_task_types() -> None:
    state = State()
    state.event(ev("task-received", uuid="a1", name="proj.add"))
    state.event({**ev("task-received", uuid="m1", name="proj.mul"), "hostname": "w2@h"})
    state.event(ev("task-received", uuid="a2", name="proj.add"))
    assert [uuid for uuid, _ in state.tasks_by_type("proj.add")] == ["a2", "a1"]
    assert {task.uuid for task in state.tasks_by_type["proj.add"]} == {"a1", "a2"}
    assert [uuid for uuid, _ in state.tasks_by_worker("w2@h")] == ["m1"]
    assert state.task_types() == ["proj.add", "proj.mul"]


def test_parent_root_and_children_resolve_in_any_order() -> None:
    state = State()
    state.event(ev("task-received", uuid="child", name="proj.c", parent_id="par",
                   root_id="par"))
    state.event(ev("task-received", uuid="par", name="proj.p", root_id="par"))
    child, parent = state.tasks["child"], state.tasks["par"]
    assert child.parent is parent and child.root is parent
    assert set(parent.children) == {child}
    assert child.as_dict()["parent"] == "par" and parent.as_dict()["children"] == ["child"]


def test_clear_keeps_unfinished_tasks_and_freeze_while_can_clear_after() -> None:
    state = State()
    events = task_events("done")
    for name in ("received", "started", "succeeded"):
        state.event(events[name])
    state.event(ev("task-received", uuid="busy", name="proj.add"))
    state.clear_tasks(ready=True)
    assert list(state.tasks) == ["busy"]
    seen = state.freeze_while(lambda: len(state.tasks), clear_after=True)
    assert seen == 1 and state.event_count == 0 and len(state.workers) == 0
    assert list(state.tasks) == ["busy"]


def test_custom_handlers_callback_and_unknown_groups() -> None:
    seen: list[str] = []
    state = State(callback=lambda st, event: seen.append(event["type"]))
    state.handlers["custom"] = lambda subject, event: subject.upper()
    assert state.event(ev("custom-thing")) == ("THING", "thing")
    assert state.event(ev("other-thing")) is None
    assert seen == ["custom-thing", "other-thing"]


def test_task_info_repr_and_pickle() -> None:
    state = State()
    events = task_events("p1")
    for name in ("received", "succeeded"):
        state.event(events[name])
    task = state.tasks["p1"]
    assert task.info() == {"args": "(2, 3)", "kwargs": "{}", "retries": 0, "result": "5",
                           "runtime": 0.01, "root_id": "p1"}
    assert repr(task) == f"<Task: proj.add(p1) SUCCESS clock:{task.clock}>"
    copy = pickle.loads(pickle.dumps(task))
    assert isinstance(copy, Task) and copy == task and copy.state == states.SUCCESS
    worker = pickle.loads(pickle.dumps(state.workers["w1@host"]))
    assert worker.hostname == "w1@host"
    assert repr(state) == "<State: events=2 tasks=1>"


class Recorder(Polaroid):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pictures: list[int] = []

    def on_shutter(self, state: State) -> None:
        self.pictures.append(state.event_count)


def test_polaroid_takes_pictures_and_maxrate_limits_them() -> None:
    state = State()
    cam = Recorder(state, freq=0.01, maxrate="1/h")
    cam.shutter()
    cam.shutter()
    assert cam.pictures == [0]  # one an hour
    unlimited = Recorder(state, freq=0.01)
    unlimited.capture()
    state.event(ev("worker-online", freq=2.0))
    unlimited.capture()
    assert unlimited.pictures == [0, 1]


def test_polaroid_timer_fires_and_cancel_takes_a_last_picture() -> None:
    state = State()
    cam = Recorder(state, freq=0.02)
    with cam:
        deadline = time.monotonic() + 5
        while len(cam.pictures) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cam.pictures) >= 2
        before = len(cam.pictures)
    assert len(cam.pictures) >= before + 1
    RepeatingTimer().stop()  # stopping a timer that never started is harmless


@pytest.mark.parametrize(("rate", "per_second"), [
    ("10/s", 10.0), ("60/m", 1.0), ("3600/h", 1.0), (2, 2.0), (None, None), ("0", 0.0),
])
def test_maxrate_parsing(rate: Any, per_second: float | None) -> None:
    assert shutters_per_second(rate) == per_second


def test_bad_maxrate_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="maxrate"):
        shutters_per_second("ten a minute")
