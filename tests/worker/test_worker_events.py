"""A worker's events on the SQLite, memory and RabbitMQ brokers, read back via ``subscribe``.

Worker events without ``-E``; task events only with it, or after ``set_task_events(True)``
(what the ``enable_events`` control command calls); ``send_heartbeat`` on demand.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.transport.base import Subscription
from celeriac.worker.view import WorkerInspector
from tests.helpers import in_process_worker, unique_name, wait_until

_AMQP = pytest.param("amqp", marks=[pytest.mark.amqp])


@pytest.fixture(params=["sqlite", "memory", _AMQP])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Celery]:
    name = unique_name("wevents")
    with ExitStack() as stack:
        stack.callback(gc.collect)  # last: what leaked is collected under this test's filter
        if request.param == "sqlite":
            app = Celery(name, broker=f"sqlite:///{tmp_path}/b.db",
                         backend=f"sqlite:///{tmp_path}/r.db")
        elif request.param == "amqp":  # the celeryev topic exchange of a throw-away vhost
            from tests.integration.amqp_vhost import rabbitmq_vhost

            vhost = stack.enter_context(rabbitmq_vhost("events"))
            app = Celery(name, broker=vhost.url, backend=f"sqlite:///{tmp_path}/r.db")
        else:
            app = Celery(name, broker=f"memory://{name}", backend=f"memory://{name}")
        stack.callback(app.close)
        yield from _with_tasks(app)


def _with_tasks(app: Celery) -> Iterator[Celery]:
    @app.task(name="wev.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="wev.forty_two", ignore_result=True)
    def forty_two() -> int:
        return 42

    yield app


class Collector:
    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.events: list[dict[str, Any]] = []

    def types(self) -> list[str]:
        for message in self.subscription.get(0.05):
            body = json.loads(message.body)
            self.events.extend(body if isinstance(body, list) else [body])
        return [event["type"] for event in self.events]


def _view(worker: Any) -> WorkerInspector:
    wait_until(lambda: worker.control_node is not None and worker.events.heartbeat, 10,
               message="the worker to start")
    view = worker.control_node.view
    assert isinstance(view, WorkerInspector)
    return view


def test_worker_events_without_e_and_task_events_switched_on(app: Celery) -> None:
    collector = Collector(app.transport.channel().subscribe("celeryev", "#"))  # type: ignore[attr-defined]
    add = app.tasks["wev.add"]
    with in_process_worker(app, pool="solo", heartbeat_interval=60) as worker:
        wait_until(lambda: "worker-online" in collector.types(), 10, message="worker-online")
        assert add.delay(1, 2).get(timeout=10) == 3
        view = _view(worker)
        view.send_heartbeat()
        wait_until(lambda: "worker-heartbeat" in collector.types(), 10,
                   message="the heartbeat asked for")
        assert not [t for t in collector.types() if t.startswith("task-")]  # no -E
        heartbeat = collector.events[collector.types().index("worker-heartbeat")]
        assert (heartbeat["processed"], heartbeat["freq"]) == (1, 60.0)

        view.set_task_events(True)
        result = add.delay(2, 3)
        assert result.get(timeout=10) == 5
        wait_until(lambda: "task-succeeded" in collector.types(), 10, message="task events")
        mine = [e for e in collector.events if e.get("uuid") == result.id]
        assert [e["type"] for e in mine] == ["task-received", "task-started", "task-succeeded"]
        assert mine[2]["result"] == "5"

        view.set_task_events(False)
        count = len(collector.events)
        assert add.delay(3, 4).get(timeout=10) == 7
        view.send_heartbeat()
        wait_until(lambda: collector.types().count("worker-heartbeat") == 2, 10,
                   message="a second heartbeat")
        assert all(not e["type"].startswith("task-") for e in collector.events[count:])
    wait_until(lambda: "worker-offline" in collector.types(), 10, message="worker-offline")
    collector.subscription.close()


def test_task_events_setting_turns_them_on(app: Celery) -> None:
    app.conf.worker_send_task_events = True
    collector = Collector(app.transport.channel().subscribe("celeryev", "task.#"))  # type: ignore[attr-defined]
    with in_process_worker(app, pool="threads", concurrency=2):
        result = app.tasks["wev.add"].delay(4, 4)
        assert result.get(timeout=10) == 8
        ignored = app.tasks["wev.forty_two"].delay()
        unknown = app.send_task("wev.nobody_has_it")
        wait_until(lambda: collector.types().count("task-succeeded") == 2
                   and "task-failed" in collector.types(), 10, message="task events")
    assert "worker-online" not in collector.types()  # task.# only
    collector.subscription.close()
    [succeeded] = [e for e in collector.events
                   if e["type"] == "task-succeeded" and e["uuid"] == ignored.id]
    assert succeeded["result"] == "42"  # a result not stored is still shown
    [failed] = [e for e in collector.events if e["type"] == "task-failed"]
    assert (failed["uuid"], failed["exception"]) == (unknown.id,
                                                      "NotRegistered('wev.nobody_has_it')")
