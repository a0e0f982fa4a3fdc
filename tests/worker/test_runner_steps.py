"""``TaskRunner.run`` is prepare, execute, finish, and the soft time limit covers only
execute: a limit that runs out while the result is encoded, callbacks are published or hooks
run must not raise inside that broker I/O (it would leave a half-sent message, or turn a
task that returned into a failure)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, Task, signals, states
from celeriac.exceptions import SoftTimeLimitExceeded
from celeriac.execution.request import Request
from celeriac.execution.runner import Running, TaskRunner
from celeriac.execution.time_limits import ThreadSoftLimiter
from celeriac.protocol.task_message import build_v2, decode_body
from celeriac.transport.base import Delivery

ACCEPT = frozenset({"application/json"})

events: list[str] = []


class SlowSuccess(Task):  # type: ignore[type-arg]
    """``on_success`` runs in ``finish``; here it outlasts the task's soft limit."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        events.append("on_success")
        deadline = time.monotonic() + 0.4
        try:
            while time.monotonic() < deadline:  # Python code: a queued limit would land here
                pass
        except SoftTimeLimitExceeded:
            events.append("limit fired in finish")
            raise


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("steps", broker=f"memory://{uuid.uuid4().hex}")

    @app.task(name="steps.quick", base=SlowSuccess, soft_time_limit=0.2)
    def quick() -> str:
        events.append("body")
        return "done"

    events.clear()
    yield app
    app.close()


def make_request(name: str) -> Request:
    task_id = str(uuid.uuid4())
    message = build_v2(task_name=name, task_id=task_id, args=(), kwargs={}, origin="test")
    return Request(delivery=Delivery(message=message, queue="celery", tag=task_id),
                   task_name=name, task_id=task_id, body=decode_body(message, ACCEPT),
                   hostname="test@host")


class RecordingLimiter:
    def arm(self, seconds: float | None) -> int:
        events.append(f"arm {seconds}")
        return 1

    def disarm(self, token: int) -> None:
        events.append("disarm")


def test_the_limiter_is_armed_around_execute_only(app: Celery) -> None:
    runner = TaskRunner(app, app.tasks["steps.quick"], ACCEPT)

    def prerun(**_: Any) -> None:
        events.append("task_prerun")

    def postrun(**_: Any) -> None:
        events.append("task_postrun")

    signals.task_prerun.connect(prerun)
    signals.task_postrun.connect(postrun)
    try:
        outcome = runner.run(make_request("steps.quick"), RecordingLimiter())
    finally:
        signals.task_prerun.disconnect(prerun)
        signals.task_postrun.disconnect(postrun)
    assert outcome.state == states.SUCCESS
    # on_success waited out the soft limit, but the recording limiter never fires.
    assert events == ["task_prerun", "arm 0.2", "body", "disarm", "on_success",
                      "task_postrun"]


def test_a_soft_limit_running_out_during_finish_does_not_fire(app: Celery) -> None:
    runner = TaskRunner(app, app.tasks["steps.quick"], ACCEPT)
    outcome = runner.run(make_request("steps.quick"), ThreadSoftLimiter())
    time.sleep(0.1)  # a limit queued for this thread would be delivered by now
    assert outcome.state == states.SUCCESS, outcome.reason
    assert events == ["body", "on_success"]


def test_the_steps_can_be_driven_one_by_one(app: Celery) -> None:
    runner = TaskRunner(app, app.tasks["steps.quick"], ACCEPT)
    request = make_request("steps.quick")
    running = runner.prepare(request)
    assert isinstance(running, Running)
    assert app.tasks["steps.quick"].request.id == request.task_id  # pushed by prepare
    retval = runner.execute(running)
    outcome = runner.finish(running, retval, None)
    assert outcome.state == states.SUCCESS and outcome.meta is not None
    assert outcome.meta.result == "done" and outcome.runtime > 0
    assert app.tasks["steps.quick"].request.id is None  # popped by finish
