"""celeriac's event monitor side against a real Celery worker (``celery worker -E``) on Redis.

What a Celery user's monitor sees must be what celeriac's receiver sees: every task event
type a worker and a client send (sent, received, started, succeeded, failed, retried,
revoked, rejected), the worker's online/heartbeat/offline, and a ``State`` built from them
with each task in its final state and the worker alive, then not after it stopped. The
``celeriac events --dump`` command is run as a user runs it, in a subprocess stopped by PID.
"""

from __future__ import annotations

import copy
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State
from tests.helpers import (
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.suite_redis import suite_redis_url

celery_state = pytest.importorskip("celery.events.state")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(11)
RESULTS = suite_redis_url(15)
QUEUE = "events.interop"

CELERY_TASKS = """
from celery import Celery
from celery.exceptions import Reject

app = Celery("{name}", broker="{broker}", backend="{results}")
app.conf.broker_connection_retry_on_startup = True
app.conf.task_send_sent_event = True


@app.task(name="ev.add")
def add(x, y):
    return x + y


@app.task(name="ev.boom")
def boom():
    raise ValueError("boom")


@app.task(name="ev.flaky", bind=True, max_retries=1)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "ok after a retry"


@app.task(name="ev.refuse", acks_late=True)
def refuse():
    raise Reject("not for me", requeue=False)
"""

MONITOR = """
from celeriac import Celery

app = Celery("{name}", broker="{broker}")
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    with flushed_redis(BROKER), flushed_redis(RESULTS):
        yield tmp_path


def _celery_module(directory: Path) -> str:
    name = unique_name("events_celery")
    source = CELERY_TASKS.format(name=name, broker=BROKER, results=RESULTS)
    (directory / f"{name}.py").write_text(source + WAKEUP)
    return name


@contextmanager
def capturing(app: Celery) -> Iterator[tuple[list[dict[str, Any]], State]]:
    """A receiver feeding a list and a ``State`` on a thread, subscribed before yielding."""
    seen: list[dict[str, Any]] = []
    cluster = State()

    def handle(event: dict[str, Any]) -> None:
        seen.append(event)
        cluster.event(event)

    receiver = EventReceiver(None, app=app, handlers={"*": handle})
    receiver.subscribe()
    thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
    thread.start()
    try:
        yield seen, cluster
    finally:
        receiver.should_stop = True
        thread.join(10)
        receiver.close()


def _types(seen: list[dict[str, Any]], hostname: str) -> set[str]:
    return {event["type"] for event in list(seen) if event.get("hostname") == hostname}


def test_receiver_and_state_follow_a_real_celery_worker(workdir: Path) -> None:
    module = _celery_module(workdir)
    client = import_app_module(workdir, module).app  # type: ignore[attr-defined]
    monitor = Celery("events-monitor", broker=BROKER)
    worker_name = f"{module}@{socket.gethostname()}"
    try:
        with capturing(monitor) as (seen, cluster), celery_worker(
                workdir, module, QUEUE, "-E", "--heartbeat-interval", "1",
                heartbeat=True) as worker:
            wait_until(lambda: "worker-heartbeat" in _types(seen, worker_name), timeout=30,
                       message=f"worker-online and a heartbeat from {worker_name}")
            assert cluster.workers[worker_name].alive
            ids = {
                "add": client.send_task("ev.add", (2, 3), queue=QUEUE).id,
                "boom": client.send_task("ev.boom", queue=QUEUE).id,
                "flaky": client.send_task("ev.flaky", queue=QUEUE).id,
                "refuse": client.send_task("ev.refuse", queue=QUEUE).id,
                "expired": client.send_task("ev.add", (1, 1), queue=QUEUE, expires=-60).id,
            }
            finals = {"add": states.SUCCESS, "boom": states.FAILURE, "flaky": states.SUCCESS,
                      "refuse": states.FAILURE, "expired": states.REVOKED}

            def settled() -> bool:
                known = cluster.tasks.data
                return all(ids[key] in known and known[ids[key]].state == final
                           for key, final in finals.items()) and bool(
                    known[ids["refuse"]].rejected)

            wait_until(settled, timeout=30, message="every task in its final state")
            assert worker.stop() == 0
            wait_until(lambda: "worker-offline" in _types(seen, worker_name), timeout=15,
                       message="worker-offline")
    finally:
        close_celery_app(client)
        monitor.close()

    task_types = {event["type"] for event in seen if event["type"].startswith("task-")}
    assert task_types == {"task-sent", "task-received", "task-started", "task-succeeded",
                          "task-failed", "task-retried", "task-revoked", "task-rejected"}
    assert {"worker-online", "worker-heartbeat", "worker-offline"} <= _types(seen, worker_name)
    assert all("local_received" in event and isinstance(event["clock"], int) for event in seen)

    add = cluster.tasks.data[ids["add"]]
    assert add.name == "ev.add" and add.args == "(2, 3)" and add.result == "5"
    assert add.worker is not None and add.worker.hostname == worker_name
    assert add.sent and add.received and add.started and add.succeeded and add.runtime
    boom = cluster.tasks.data[ids["boom"]]
    assert boom.exception == "ValueError('boom')" and "Traceback" in str(boom.traceback)
    flaky = cluster.tasks.data[ids["flaky"]]
    assert flaky.retried and flaky.result == "'ok after a retry'"
    # Celery's worker reports a Reject(requeue=False) as task-failed, then (acks_late)
    # task-rejected; by precedence the task stays FAILURE, with its rejected time.
    assert cluster.tasks.data[ids["refuse"]].rejected
    expired = cluster.tasks.data[ids["expired"]]
    assert expired.revoked and expired.expired is True  # type: ignore[attr-defined]

    node = cluster.workers[worker_name]
    assert not node.alive and node.status_string == "OFFLINE"
    assert node.sw_ident == "py-celery" and node.freq == 1 and node.processed
    assert worker_name not in {w.hostname for w in cluster.alive_workers()}
    assert [uuid for uuid, _ in cluster.tasks_by_type("ev.boom")] == [ids["boom"]]
    assert ids["add"] in {uuid for uuid, _ in cluster.tasks_by_time()}

    # Celery's own State, fed the same events, agrees task by task.
    reference = celery_state.State()
    for event in seen:
        reference.event(copy.deepcopy(event))
    for task_id in ids.values():
        ours, theirs = cluster.tasks.data[task_id], reference.tasks[task_id]
        for field in ("state", "name", "args", "result", "exception", "received", "started",
                      "succeeded", "failed", "retried", "revoked", "rejected", "retries"):
            assert getattr(ours, field) == getattr(theirs, field), (task_id, field)
    assert reference.workers[worker_name].alive is node.alive


def test_celeriac_events_dump_prints_a_celery_workers_events(workdir: Path) -> None:
    module = _celery_module(workdir)
    monitor = unique_name("events_monitor")
    (workdir / f"{monitor}.py").write_text(MONITOR.format(name=monitor, broker=BROKER))
    client = import_app_module(workdir, module).app  # type: ignore[attr-defined]
    worker_name = f"{module}@{socket.gethostname()}"
    try:
        # A heart that beats once a minute: a heartbeat seen soon after the dump starts
        # answers the dump's wake-up broadcast.
        with celery_worker(workdir, module, QUEUE, "-E", "--heartbeat-interval", "60",
                           heartbeat=True) as worker:
            wait_until(lambda: " ready." in worker.log(), timeout=30, message="worker ready")
            with running_worker(workdir, "-A", monitor, "events", "--dump",
                                name="dump") as dump:
                wait_until(lambda: "-> evdump: starting capture..." in dump.log(),
                           timeout=30, message="the dump's banner")
                wait_until(lambda: f"{worker_name} [" in dump.log()
                           and "] heartbeat: " in dump.log(), timeout=15,
                           message="the heartbeat the wake-up asked for")
                task_id = str(uuid.uuid4())
                client.send_task("ev.add", (20, 22), queue=QUEUE, task_id=task_id)
                wait_until(lambda: f"task succeeded: ev.add({task_id})" in dump.log(),
                           timeout=20, message="the task-succeeded line")
                assert dump.stop() == 0
            output = dump.log()
    finally:
        close_celery_app(client)
    lines = [line for line in output.splitlines() if task_id in line]
    assert any(f"task received: ev.add({task_id}) args=(20, 22) kwargs={{}}" in line
               for line in lines)
    assert any(" task sent: " in line for line in lines)
    succeeded = next(line for line in lines if "task succeeded" in line)
    assert succeeded.startswith(f"{worker_name} [") and "result=42" in succeeded
    assert "Traceback" not in output

