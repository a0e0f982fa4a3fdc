"""celeriac's events, read off Redis by real Celery's ``app.events.Receiver`` (broker db 11).

A ``celeriac worker -E`` subprocess (each pool) and a celeriac client with
``task_send_sent_event`` produce every event type celeriac sends; Celery's receiver, running
in this process, must see each with Celery's field names and types, and Celery's own
``events.state.State`` (what Flower and ``celery events`` build on) must make sense of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(11)
RESULTS = suite_redis_url(15)

APP_SOURCE = """
import time

from celeriac import Celery
from celeriac.exceptions import Reject

app = Celery("{name}", broker="{broker}", backend="{results}")
app.conf.task_send_sent_event = True


@app.task(name="ev.add")
def add(x, y):
    return x + y


@app.task(name="ev.boom")
def boom():
    raise ValueError("E")


@app.task(name="ev.flaky", bind=True, max_retries=1, default_retry_delay=0)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(exc=KeyError("once"))
    return "ok after retry"


@app.task(name="ev.sleepy")
def sleepy():
    time.sleep(30)


@app.task(name="ev.refuse")
def refuse():
    raise Reject("no", requeue=False)
"""

OPTIONAL_STR = (str, type(None))  # a retry has a parent and an eta; expires when given
COMMON = {"hostname": str, "utcoffset": float, "pid": int, "clock": int,
          "timestamp": float, "type": str}
EXPECTED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "worker-online": {"freq": float, "active": int, "processed": int, "loadavg": list,
                      "sw_ident": str, "sw_ver": str, "sw_sys": str},
    "task-sent": {"uuid": str, "root_id": str, "parent_id": OPTIONAL_STR, "name": str,
                  "args": str, "kwargs": str, "retries": int, "eta": OPTIONAL_STR,
                  "expires": OPTIONAL_STR, "queue": str, "exchange": str,
                  "routing_key": str},
    "task-received": {"uuid": str, "name": str, "args": str, "kwargs": str, "root_id": str,
                      "parent_id": OPTIONAL_STR, "retries": int, "eta": OPTIONAL_STR,
                      "expires": OPTIONAL_STR},
    "task-started": {"uuid": str},
    "task-succeeded": {"uuid": str, "result": str, "runtime": float},
    "task-failed": {"uuid": str, "exception": str, "traceback": str},
    "task-retried": {"uuid": str, "exception": str, "traceback": str},
    "task-revoked": {"uuid": str, "terminated": bool, "signum": (int, type(None)),
                     "expired": bool},
    "task-rejected": {"uuid": str, "requeue": bool},
}
EXPECTED["worker-heartbeat"] = EXPECTED["worker-offline"] = EXPECTED["worker-online"]


class CeleryMonitor:
    """Real Celery's ``Receiver.capture`` on a thread, collecting every event it sees."""

    def __init__(self, broker: str = BROKER) -> None:
        self.app = celery.Celery("monitor", broker=broker)
        self.events: list[dict[str, Any]] = []
        self.receiver: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.connection() as connection:
            self.receiver = self.app.events.Receiver(connection,
                                                     handlers={"*": self.events.append})
            self.receiver.capture(limit=None, timeout=None, wakeup=False)

    def of_type(self, type_: str, uuid: str | None = None) -> list[dict[str, Any]]:
        return [e for e in list(self.events)
                if e["type"] == type_ and (uuid is None or e.get("uuid") == uuid)]

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(10)
        close_celery_app(self.app)


@contextmanager
def monitoring(redis: Any) -> Iterator[CeleryMonitor]:
    monitor = CeleryMonitor()
    patterns = redis.execute_command("PUBSUB", "NUMPAT")
    monitor.thread.start()
    try:  # its PSUBSCRIBE is live: nothing sent from now on is missed
        wait_until(lambda: redis.execute_command("PUBSUB", "NUMPAT") > patterns, 10,
                   message="Celery's receiver to subscribe")
        yield monitor
    finally:
        monitor.stop()


@contextmanager
def event_project(tmp_path: Path) -> Iterator[tuple[str, Any, CeleryMonitor]]:
    """The tasks' module (a celeriac client too), empty databases, Celery listening."""
    name = unique_name("events")
    (tmp_path / f"{name}.py").write_text(
        APP_SOURCE.format(name=name, broker=BROKER, results=RESULTS))
    module: Any = import_app_module(tmp_path, name)
    try:
        with flushed_redis(BROKER) as redis, flushed_redis(RESULTS), \
                monitoring(redis) as monitor:
            yield name, module, monitor
    finally:
        module.app.close()


def _check_fields(event: dict[str, Any]) -> None:
    for field, kind in {**COMMON, **EXPECTED[event["type"]]}.items():
        assert isinstance(event.get(field), kind), (event["type"], field, event.get(field))


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_celery_receiver_sees_every_event_type(tmp_path: Path, pool: str) -> None:
    with event_project(tmp_path) as (name, module, monitor):
        args = ("-A", name, "worker", "-P", pool, "-c", "2", "-E", "-l", "INFO",
                "--heartbeat-interval", "0.5", "-n", f"{name}@host")
        with running_worker(tmp_path, *args) as worker:
            wait_until(lambda: monitor.of_type("worker-heartbeat"), 30,
                       message="a worker-heartbeat")
            added = module.add.delay(2, 3)
            assert added.get(timeout=20) == 5
            failed = module.boom.delay()
            with pytest.raises(ValueError):
                failed.get(timeout=20)
            flaky = module.flaky.delay()
            assert flaky.get(timeout=20) == "ok after retry"
            expired = module.add.apply_async((1, 1), expires=-1)
            refused = module.refuse.delay()
            wait_until(lambda: monitor.of_type("task-revoked", expired.id)
                       and monitor.of_type("task-rejected", refused.id), 20,
                       message="task-revoked and task-rejected")
            if pool == "prefork":  # terminate: the event names the signal
                running = module.sleepy.delay()
                wait_until(lambda: monitor.of_type("task-started", running.id), 20,
                           message="the sleepy task to start")
                module.app.control.revoke(running.id, terminate=True, signal="SIGTERM")
                wait_until(lambda: monitor.of_type("task-revoked", running.id), 20,
                           message="task-revoked after terminate")
                killed = monitor.of_type("task-revoked", running.id)[0]
                assert (killed["terminated"], killed["signum"]) == (True, 15)
            worker.stop()
            assert worker.process.returncode == 0, worker.log()
        wait_until(lambda: monitor.of_type("worker-offline"), 10, message="worker-offline")

    for event in monitor.events:
        _check_fields(event)
    assert set(EXPECTED) <= {event["type"] for event in monitor.events}
    worker_events = [e for e in monitor.events if e["type"].startswith("worker-")]
    assert {e["hostname"] for e in worker_events} == {f"{name}@host"}
    assert worker_events[0]["type"] == "worker-online"
    assert worker_events[-1]["type"] == "worker-offline"
    assert worker_events[1]["freq"] == 0.5
    assert len(worker_events[1]["loadavg"]) == 3

    sent = monitor.of_type("task-sent", added.id)[0]
    ok = monitor.of_type("task-succeeded", added.id)[0]
    assert ok["result"] == "5"
    assert monitor.of_type("task-received", added.id)[0]["args"] == sent["args"]
    assert monitor.of_type("task-received", added.id)[0]["name"] == "ev.add"
    assert (sent["name"], sent["queue"], sent["routing_key"]) == ("ev.add", "celery", "celery")
    assert sent["hostname"].startswith("gen")
    failure = monitor.of_type("task-failed", failed.id)[0]
    assert failure["exception"] == "ValueError('E')"
    assert "ValueError: E" in failure["traceback"]
    assert monitor.of_type("task-retried", flaky.id)[0]["exception"] == "KeyError('once')"
    revoked = monitor.of_type("task-revoked", expired.id)[0]
    assert (revoked["expired"], revoked["terminated"]) == (True, False)
    assert monitor.of_type("task-rejected", refused.id)[0]["requeue"] is False
    clocks = [e["clock"] for e in monitor.events
              if e["hostname"] == f"{name}@host" and e["type"].startswith("task-")]
    assert clocks == sorted(clocks)  # one buffer, sent in order

    from celery.events.state import State

    state = State()
    for event in sorted(monitor.events, key=lambda e: e["timestamp"]):
        state.event(event)
    assert state.tasks[added.id].state == "SUCCESS"
    assert state.tasks[added.id].result == "5"
    assert state.tasks[failed.id].state == "FAILURE"
    assert state.tasks[expired.id].state == "REVOKED"
    assert state.workers[f"{name}@host"].sw_ident == "py-celeriac"


def test_without_heartbeat_sends_no_worker_events(tmp_path: Path) -> None:
    with event_project(tmp_path) as (name, module, monitor):
        args = ("-A", name, "worker", "-P", "solo", "--without-heartbeat", "-l", "INFO")
        with running_worker(tmp_path, *args) as worker:
            wait_until(lambda: "ready." in worker.log(), 30, message="the worker to start")
            assert module.add.delay(1, 2).get(timeout=20) == 3
            worker.stop()
        time.sleep(0.3)
    types = {event["type"] for event in monitor.events}
    assert types == {"task-sent"}  # the client's; no -E and no heart: the worker sent none
