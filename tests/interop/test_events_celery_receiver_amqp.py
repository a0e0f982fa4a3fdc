"""celeriac's events on RabbitMQ's ``celeryev`` topic exchange, read by real Celery's Receiver.

The Redis test (``test_events_celery_receiver.py``) checks every type and field in depth; this
one proves the RabbitMQ wire: a ``celeriac worker -E`` in a throw-away vhost, a celeriac client
with ``task_send_sent_event``, and Celery's ``app.events.Receiver`` on its own
``celeryev.<uuid>`` queue must see worker and task events with Celery's fields, and Celery's
``State`` must follow the tasks to their final states.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost
from tests.interop.test_events_celery_receiver import COMMON, EXPECTED, CeleryMonitor

pytest.importorskip("celery")

pytestmark = [pytest.mark.amqp, pytest.mark.slow]

APP_SOURCE = """
from celeriac import Celery

app = Celery("{name}", broker="{broker}", backend="rpc://")
app.conf.task_send_sent_event = True


@app.task(name="evq.add")
def add(x, y):
    return x + y


@app.task(name="evq.boom")
def boom():
    raise ValueError("E")
"""


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("celeryev") as made:
        yield made


def _event_queues(vhost: Vhost) -> list[str]:
    return [name for name in vhost.queues() if name.startswith("celeryev.")]


def test_celery_receiver_reads_celeriac_events_on_rabbitmq(tmp_path: Path, vhost: Vhost) -> None:
    name = unique_name("evq")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name, broker=vhost.url))
    module: Any = import_app_module(tmp_path, name)
    monitor = CeleryMonitor(vhost.url)
    monitor.thread.start()
    try:
        wait_until(lambda: _event_queues(vhost), 20, message="Celery's celeryev queue")
        args = ("-A", name, "worker", "-P", "threads", "-c", "2", "-E", "-l", "INFO",
                "--heartbeat-interval", "0.5", "-n", f"{name}@host")
        with running_worker(tmp_path, *args) as worker:
            wait_until(lambda: monitor.of_type("worker-heartbeat"), 30,
                       message="a worker-heartbeat")
            added = module.add.delay(2, 3)
            assert added.get(timeout=20) == 5
            failed = module.boom.delay()
            with pytest.raises(ValueError):
                failed.get(timeout=20)
            wait_until(lambda: monitor.of_type("task-failed", failed.id), 20,
                       message="task-failed")
            worker.stop()
            assert worker.process.returncode == 0, worker.log()
        wait_until(lambda: monitor.of_type("worker-offline"), 10, message="worker-offline")
    finally:
        monitor.stop()
        module.app.close()

    for event in monitor.events:
        for field, kind in {**COMMON, **EXPECTED[event["type"]]}.items():
            assert isinstance(event.get(field), kind), (event["type"], field)
    seen = {event["type"] for event in monitor.events}
    assert {"worker-online", "worker-heartbeat", "worker-offline", "task-sent",
            "task-received", "task-started", "task-succeeded", "task-failed"} <= seen
    assert monitor.of_type("task-succeeded", added.id)[0]["result"] == "5"

    from celery.events.state import State

    state = State()
    for event in sorted(monitor.events, key=lambda e: e["timestamp"]):
        state.event(event)
    assert state.tasks[added.id].state == "SUCCESS"
    assert state.tasks[failed.id].state == "FAILURE"
    assert not state.workers[f"{name}@host"].alive  # after worker-offline
