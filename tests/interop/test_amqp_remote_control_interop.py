"""Remote control and events between celeriac and real Celery 5.7, over RabbitMQ (and Redis).

* Celery's CLI (``celery -A <app> inspect ping|registered``, ``celery control rate_limit|revoke``)
  and Celery's in-process ``app.control.inspect()`` reach a ``celeriac worker`` process on
  RabbitMQ;
* celeriac's ``inspect``/``control`` reach a real ``celery worker`` on RabbitMQ and on Redis;
* subscribers on ``celeryev`` with patterns ``#`` and ``worker.#`` (celeriac's AMQP channel)
  receive what a real ``celery worker -E`` publishes: ``worker.online``/``worker.heartbeat``
  objects and ``task.multi`` batches (JSON lists).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery as CeleriacApp
from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.amqp import AmqpTransport
from celeriac.transport.base import Subscription
from tests.helpers import (
    WorkerProcess,
    flushed_redis,
    import_app_module,
    in_process_worker,
    running_worker,
    supervised,
    unique_name,
    wait_until,
)
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.integration.test_amqp_remote_control import RC_TASKS
from tests.suite_redis import suite_redis_url

pytest.importorskip("celery")

pytestmark = [pytest.mark.amqp, pytest.mark.slow]
TIMEOUT = 30.0
REDIS_URL = suite_redis_url(15)

CELERY_APP = """
import time
from celery import Celery

app = Celery({name!r}, broker={broker!r}, backend="rpc://")
app.conf.task_default_queue = {queue!r}
app.conf.broker_connection_retry_on_startup = True
""" + RC_TASKS
CELERIAC_APP = CELERY_APP.replace("from celery import", "from celeriac import")


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("rc_interop") as made:
        yield made


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amqp_rc_interop")


def _write(workdir: Path, template: str, broker: str, queue: str, suffix: str = "") -> str:
    name = unique_name("amqp_rc_interop")
    (workdir / f"{name}.py").write_text(
        template.format(name=name, broker=broker, queue=queue) + suffix)
    return name


def _celery(workdir: Path, module: str, *args: str) -> str:
    """Run Celery's CLI; return its output (the test fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", module, *args], cwd=workdir,
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(workdir)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _pong(app: Any, node: str) -> None:
    wait_until(lambda: app.control.ping(destination=[node], timeout=1.0), TIMEOUT,
               message=f"a pong from {node}")


# -- Celery's client -> a celeriac worker -------------------------------------------------
def test_celery_cli_and_app_reach_a_celeriac_worker(vhost: Vhost, workdir: Path) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    celeriac_module = _write(workdir, CELERIAC_APP, vhost.url, queue)
    celery_module = _write(workdir, CELERY_APP, vhost.url, queue)
    node = f"celeriac-{uuid.uuid4().hex[:6]}@test"
    client: Any = import_app_module(workdir, celeriac_module)
    celery_client: Any = import_app_module(workdir, celery_module)
    try:
        with running_worker(workdir, "-A", celeriac_module, "worker", "-P", "threads", "-c",
                            "2", "-Q", queue, "-n", node, name=f"w-{node}"):
            _pong(client.app, node)
            out = _celery(workdir, celery_module, "inspect", "ping", "-d", node, "-t", "10")
            assert node in out and "pong" in out, out
            out = _celery(workdir, celery_module, "inspect", "registered", "-d", node, "-t",
                          "10", "--json")
            assert {"rc.add", "rc.sleepy"} <= set(json.loads(out)[node]), out
            inspect = celery_client.app.control.inspect(destination=[node], timeout=10)
            assert inspect.ping() == {node: {"ok": "pong"}}
            assert "pid" in inspect.stats()[node]
            running = client.sleepy.delay(2)
            wait_until(lambda: [t["id"] for t in (inspect.active() or {}).get(node, [])]
                       == [running.id], TIMEOUT, message="Celery's inspect active")
            out = _celery(workdir, celery_module, "control", "rate_limit", "rc.add", "5/m",
                          "-d", node, "-t", "10")
            assert "new rate limit set successfully" in out, out
            held = client.add.apply_async((1, 1), countdown=3)
            _celery(workdir, celery_module, "control", "revoke", held.id)
            wait_until(lambda: held.state == "REVOKED", TIMEOUT,
                       message="a task revoked by Celery's CLI refused by celeriac")
            assert running.get(timeout=TIMEOUT) == 2
    finally:
        client.app.close()
        celery_client.app.close()


# -- celeriac's client -> a Celery worker -------------------------------------------------
def _exercise_celery_worker(app: CeleriacApp, node: str) -> None:
    _pong(app, node)
    inspect = app.control.inspect(destination=[node], timeout=5.0)
    assert inspect.ping() == {node: {"ok": "pong"}}
    assert {"rc.add", "rc.sleepy"} <= set(inspect.registered()[node])
    assert "pid" in inspect.stats()[node]
    assert app.control.rate_limit("rc.add", "5/m", destination=[node], reply=True,
                                  timeout=5.0) == [
        {node: {"ok": "new rate limit set successfully"}}]
    revoked_id = str(uuid.uuid4())
    app.control.revoke(revoked_id, destination=[node])
    wait_until(lambda: revoked_id in (inspect.revoked() or {}).get(node, []), TIMEOUT,
               message="the Celery worker to list the revoked id")


def test_celeriac_control_reaches_a_celery_worker_on_rabbitmq(vhost: Vhost,
                                                              workdir: Path) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    module = _write(workdir, CELERY_APP, vhost.url, queue, WAKEUP)
    app = CeleriacApp("rc-client", broker=vhost.url, set_as_current=False)
    try:
        with celery_worker(workdir, module, queue):
            _exercise_celery_worker(app, f"{module}@{worker_host()}")
    finally:
        app.close()


def test_celeriac_control_reaches_a_celery_worker_on_redis(workdir: Path) -> None:
    with flushed_redis(REDIS_URL):
        queue = f"q-{uuid.uuid4().hex[:8]}"
        module = _write(workdir, CELERY_APP, REDIS_URL, queue, WAKEUP)
        app = CeleriacApp("rc-client", broker=REDIS_URL, set_as_current=False)
        try:
            with celery_worker(workdir, module, queue):
                _exercise_celery_worker(app, f"{module}@{worker_host()}")
        finally:
            app.close()


def worker_host() -> str:
    """What Celery puts after the ``@`` of ``-n name@%h``."""
    import socket

    return socket.gethostname()


# -- events: a Celery worker with -E -> subscribers on celeryev -----------------------------
def _drain(subscription: Subscription, into: list[TaskMessage]) -> list[TaskMessage]:
    into.extend(subscription.get(0.2))
    return into


def _events(messages: list[TaskMessage]) -> list[dict[str, Any]]:
    """Decode bodies: an object, or a list of them (``task.multi``)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        body = json.loads(message.body)
        out.extend(body if isinstance(body, list) else [body])
    return out


def test_subscribers_receive_a_celery_workers_events(vhost: Vhost, workdir: Path) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    module = _write(workdir, CELERY_APP, vhost.url, queue, WAKEUP)
    transport = AmqpTransport.from_url(vhost.url, TransportOptions())
    channel = transport.channel()
    everything = channel.subscribe("celeryev", "#")
    workers_only = channel.subscribe("celeryev", "worker.#")
    client = CeleriacApp("ev-client", broker=vhost.url, backend="rpc://", set_as_current=False)
    node = f"ev-{uuid.uuid4().hex[:6]}@test"
    log_path = workdir / f"celery-{node}.log"
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", module, "worker", "-P", "solo", "-Q",
                 queue, "-n", node, "-E", "--without-mingle", "--without-gossip", "-l", "info"],
                cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(workdir)})
        with supervised(WorkerProcess(process, log_path), f"celery worker {node}"):
            got: list[TaskMessage] = []
            wait_until(lambda: any(e["type"] == "worker-online"
                                   for e in _events(_drain(everything, got))),
                       TIMEOUT, message="worker-online on celeryev")
            result = client.send_task("rc.add", (2, 3), queue=queue)
            assert result.get(timeout=TIMEOUT) == 5
            wait_until(lambda: any(e["type"] == "task-succeeded" and e["uuid"] == result.id
                                   for e in _events(_drain(everything, got))),
                       TIMEOUT, message="task-succeeded on celeryev")
            batches = [m for m in got if m.extra.get("routing_key") == "task.multi"]
            assert batches and all(isinstance(json.loads(m.body), list) for m in batches)
            types = {e["type"] for e in _events(got) if e.get("uuid") == result.id}
            assert {"task-received", "task-started", "task-succeeded"} <= types
            online = next(m for m in got if m.extra.get("routing_key") == "worker.online")
            assert online.headers["hostname"] == node
            assert online.properties["delivery_mode"] == 1
            mine: list[TaskMessage] = []
            wait_until(lambda: any(e["type"] == "worker-heartbeat"
                                   for e in _events(_drain(workers_only, mine))),
                       TIMEOUT, message="worker-heartbeat through pattern worker.#")
            keys = {m.extra.get("routing_key") for m in mine}
            assert keys <= {"worker.online", "worker.heartbeat"}, keys
    finally:
        everything.close()
        workers_only.close()
        client.close()
        transport.close()


def test_control_exchange_names_the_pidbox_on_both_sides() -> None:
    """``control_exchange = "ops"``: Celery's client and a celeriac worker meet on
    ``ops.pidbox`` / ``reply.ops.pidbox``; nothing is declared under ``celery.pidbox``."""
    with rabbitmq_vhost("rc_ops") as vhost:  # its own: no other test's celery.pidbox
        _meet_on_ops(vhost)


def _meet_on_ops(vhost: Vhost) -> None:
    from celery import Celery as CeleryApp

    worker_app = CeleriacApp("ops-worker", broker=vhost.url, set_as_current=False)
    worker_app.conf.control_exchange = "ops"
    worker_app.conf.task_default_queue = f"q-{uuid.uuid4().hex[:8]}"
    celery_app = CeleryApp("ops-client", broker=vhost.url, set_as_current=False)
    celery_app.conf.control_exchange = "ops"
    node = f"ops-{uuid.uuid4().hex[:6]}@test"
    try:
        with in_process_worker(worker_app, pool="solo", hostname=node):
            wait_until(lambda: celery_app.control.inspect(destination=[node], timeout=1.0)
                       .ping() == {node: {"ok": "pong"}}, TIMEOUT,
                       message="Celery's ping on ops.pidbox")
            exchanges = vhost.ctl("list_exchanges", "-q", "--no-table-headers", "name",
                                  "type").splitlines()
            assert "ops.pidbox\tfanout" in exchanges
            assert "reply.ops.pidbox\tdirect" in exchanges
            assert not any(line.startswith("celery.pidbox") for line in exchanges)
    finally:
        celery_app.close()
        worker_app.close()
