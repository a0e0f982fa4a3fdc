"""Remote control on RabbitMQ between celeriac clients and real ``celeriac worker`` processes.

In a vhost of this module's own (deleted afterwards):

* ``inspect ping/active/stats/registered`` and ``control rate_limit`` reach a running worker;
  the entities are Celery's (``celery.pidbox`` fanout, the exclusive ``<nodename>.celery.pidbox``
  queue with the control_queue_* arguments, the reply queue bound to ``reply.celery.pidbox``);
* ``app.control.revoke`` and ``AsyncResult.revoke()`` of tasks the worker holds (countdown)
  make it refuse them: REVOKED;
* a revoke while **no** worker runs is kept in the stream ``celeriac.revoked``: a worker started
  afterwards refuses the task (REVOKED), with no broadcast to hear.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import WorkerProcess, import_app_module, running_worker, unique_name, wait_until
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = [pytest.mark.amqp]
TIMEOUT = 30.0

#: The tasks of the app modules here and in tests/interop/test_amqp_remote_control_interop.py.
RC_TASKS = """

@app.task(name="rc.add")
def add(x, y):
    return x + y


@app.task(name="rc.sleepy")
def sleepy(seconds):
    time.sleep(seconds)
    return seconds
"""
APP = """
import time
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend="rpc://")
app.conf.task_default_queue = {queue!r}
app.conf.control_queue_ttl = 120
app.conf.control_queue_expires = 20
""" + RC_TASKS


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("remote_control") as made:
        yield made


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amqp_remote_control")


def _module(vhost: Vhost, workdir: Path, queue: str) -> str:
    name = unique_name("amqp_rc")
    (workdir / f"{name}.py").write_text(APP.format(name=name, broker=vhost.url, queue=queue))
    return name


def _worker(workdir: Path, module: str, queue: str, node: str) -> Any:
    return running_worker(workdir, "-A", module, "worker", "-P", "threads", "-c", "2", "-Q",
                          queue, "-n", node, "-l", "info", name=f"celeriac-{node}")


def _state_is(result: Any, state: str) -> bool:
    return bool(result.state == state)


def _gather(into: list[Any], source: Any) -> bool:
    """Add what ``source`` (a subscription) holds now to ``into``; true once anything came."""
    into.extend(source.get(0.2))
    return bool(into)


def _pong(client: Any, node: str) -> None:
    wait_until(lambda: client.app.control.ping(destination=[node], timeout=1.0),
               TIMEOUT, message=f"a pong from {node}")


@pytest.fixture(scope="module")
def running(vhost: Vhost, workdir: Path) -> Iterator[tuple[Any, str, WorkerProcess]]:
    """A celeriac worker process and a celeriac client module of the same app."""
    queue = f"rc-{uuid.uuid4().hex[:8]}"
    module = _module(vhost, workdir, queue)
    node = f"rc-{uuid.uuid4().hex[:6]}@test"
    client: Any = import_app_module(workdir, module)
    try:
        with _worker(workdir, module, queue, node) as worker:
            _pong(client, node)
            yield client, node, worker
    finally:
        client.app.close()


def test_inspect_and_control_reach_the_worker(running: tuple[Any, str, WorkerProcess],
                                              vhost: Vhost) -> None:
    client, node, _ = running
    inspect = client.app.control.inspect(destination=[node], timeout=5.0)
    assert inspect.ping() == {node: {"ok": "pong"}}
    assert {"rc.add", "rc.sleepy"} <= set(inspect.registered()[node])
    stats = inspect.stats()[node]
    assert stats["pid"] == running[2].pid and "broker" in stats
    running_task = client.sleepy.delay(3)
    wait_until(lambda: [t["id"] for t in (inspect.active() or {}).get(node, [])]
               == [running_task.id], TIMEOUT, message="the sleepy task in inspect active")
    assert client.app.control.rate_limit("rc.add", "100/m", destination=[node], reply=True,
                                         timeout=5.0) == [
        {node: {"ok": "new rate limit set successfully"}}]
    assert running_task.get(timeout=TIMEOUT) == 3
    queues = vhost.ctl("list_queues", "-q", "--no-table-headers", "name", "exclusive",
                       "auto_delete", "durable", "arguments")
    [line] = [row for row in queues.splitlines() if row.startswith(f"{node}.celery.pidbox")]
    assert "\ttrue\ttrue\tfalse\t" in line
    assert "x-message-ttl" in line and "120000" in line
    assert "x-expires" in line and "20000" in line
    exchanges = vhost.ctl("list_exchanges", "-q", "--no-table-headers", "name", "type",
                          "durable").splitlines()
    assert "celery.pidbox\tfanout\tfalse" in exchanges
    assert "reply.celery.pidbox\tdirect\tfalse" in exchanges


def test_revoke_refuses_tasks_the_worker_holds(running: tuple[Any, str, WorkerProcess]) -> None:
    client, _, _ = running
    by_control = client.add.apply_async((1, 2), countdown=3)
    by_result = client.add.apply_async((3, 4), countdown=3)
    client.app.control.revoke(by_control.id)
    by_result.revoke()
    for result in (by_control, by_result):
        wait_until(partial(_state_is, result, "REVOKED"), TIMEOUT,
                   message=f"{result.id} REVOKED")


def test_a_revoke_before_the_worker_starts_is_kept(vhost: Vhost, workdir: Path) -> None:
    queue = f"rc-late-{uuid.uuid4().hex[:8]}"
    module = _module(vhost, workdir, queue)
    client: Any = import_app_module(workdir, module)
    try:
        refused = client.add.delay(5, 6)
        kept = client.add.delay(7, 8)
        refused.revoke()  # no worker listens: only the stream celeriac.revoked keeps it
        node = f"rc-late-{uuid.uuid4().hex[:6]}@test"
        with _worker(workdir, module, queue, node):
            assert kept.get(timeout=TIMEOUT) == 15
            wait_until(lambda: refused.state == "REVOKED", TIMEOUT,
                       message="the task revoked before the worker started is REVOKED")
    finally:
        client.app.close()


def test_event_subscriber_queues_follow_the_settings(vhost: Vhost) -> None:
    from celeriac import Celery

    app = Celery("ev-settings", broker=vhost.url, set_as_current=False)
    app.conf.event_queue_ttl = 7
    app.conf.event_queue_expires = 30
    app.conf.event_queue_prefix = f"mon{uuid.uuid4().hex[:6]}"
    channel: Any = app.transport.channel()
    subscription = channel.subscribe("celeryev", "worker.#")
    try:
        rows = vhost.ctl("list_queues", "-q", "--no-table-headers", "name", "exclusive",
                         "auto_delete", "durable", "arguments").splitlines()
        [line] = [row for row in rows if row.startswith(app.conf.event_queue_prefix + ".")]
        assert "\ttrue\ttrue\tfalse\t" in line
        assert "7000" in line and "30000" in line
        bindings = vhost.ctl("list_bindings", "-q", "--no-table-headers", "source_name",
                             "destination_name", "routing_key").splitlines()
        assert any(b.startswith("celeryev\t" + app.conf.event_queue_prefix)
                   and b.endswith("\tworker.#") for b in bindings)
        exchanges = vhost.ctl("list_exchanges", "-q", "--no-table-headers", "name", "type",
                              "durable").splitlines()
        assert "celeryev\ttopic\ttrue" in exchanges
    finally:
        subscription.close()
        channel.close()
        app.close()


def test_commands_and_replies_carry_celerys_properties(
        running: tuple[Any, str, WorkerProcess]) -> None:
    """Copies of a ping and its reply, taken from the pidbox exchanges as RabbitMQ routes them."""
    client, node, _ = running
    channel: Any = client.app.transport.channel()
    commands = channel.subscribe("celery.pidbox", "#")
    replies = channel.subscribe("reply.celery.pidbox", client.app.oid)
    try:
        assert client.app.control.ping(destination=[node], timeout=5.0) == [
            {node: {"ok": "pong"}}]
        seen: list[Any] = []
        wait_until(partial(_gather, seen, commands), TIMEOUT,
                   message="a copy of the command")
        command = seen[0]
        assert command.properties["delivery_mode"] == 2
        assert set(command.headers) == {"clock", "expires"}
        answers: list[Any] = []
        wait_until(partial(_gather, answers, replies), TIMEOUT,
                   message="a copy of the reply")
        reply = answers[0]
        assert reply.properties["delivery_mode"] == 1
        assert set(reply.headers) == {"ticket", "clock"}
        assert reply.extra["routing_key"] == client.app.oid
    finally:
        commands.close()
        replies.close()
        channel.close()


def test_a_second_node_of_the_same_name_cannot_listen(
        vhost: Vhost, caplog: pytest.LogCaptureFixture) -> None:
    """``<nodename>.celery.pidbox`` is exclusive: the second node logs why and stays deaf."""
    from celeriac.config.frozen import TransportOptions
    from celeriac.transport.amqp import AmqpTransport
    from celeriac.worker.control import ControlNode
    from celeriac.worker.revoked import RevokedRegistry
    from tests.worker.test_control_node import FakeWorker

    transport = AmqpTransport.from_url(vhost.url, TransportOptions())
    name = f"twin-{uuid.uuid4().hex[:6]}@test"
    first = ControlNode(transport.channel(), FakeWorker(name, RevokedRegistry()))
    second = ControlNode(transport.channel(), FakeWorker(name, RevokedRegistry()))
    try:
        assert first.start()
        assert not second.start()
        assert "another node with this name is already listening" in caplog.text
    finally:
        first.stop()
        second.stop()
        transport.close()


def test_celeriac_cli_reaches_the_worker(running: tuple[Any, str, WorkerProcess],
                                         workdir: Path) -> None:
    import json
    import os
    import subprocess

    from tests.helpers import CELERIAC

    client, node, _ = running
    module = client.__name__

    def cli(*args: str) -> str:
        done = subprocess.run([CELERIAC, "-A", module, *args, "-d", node, "-t", "10"],
                              cwd=workdir, capture_output=True, text=True, timeout=60,
                              check=False, env={**os.environ, "PYTHONPATH": str(workdir)})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert json.loads(cli("inspect", "ping", "--json")) == {node: {"ok": "pong"}}
    assert "rc.add" in json.loads(cli("inspect", "registered", "--json"))[node]
    assert "pid" in json.loads(cli("inspect", "stats", "--json"))[node]
    assert json.loads(cli("inspect", "active", "--json")) == {node: []}
    assert "new rate limit set successfully" in cli("control", "rate_limit", "rc.add", "50/m")


def test_listening_connections_send_heartbeats(vhost: Vhost) -> None:
    """A subscription and the revocation reader only listen; with a 1 s heartbeat RabbitMQ
    would close them after ~2 s of silence from us. Polled as the worker polls them, they
    keep their first connection."""
    import time

    from celeriac.config.frozen import TransportOptions
    from celeriac.control.mailbox import ControlRequest
    from celeriac.control.revocations import open_revocation_store
    from celeriac.transport.amqp import AmqpTransport

    transport = AmqpTransport.from_url(vhost.url + "?heartbeat=1", TransportOptions())
    channel: Any = transport.channel()
    subscription = channel.subscribe("celery.pidbox", "#")
    reader: Any = open_revocation_store(transport)
    writer = open_revocation_store(transport)
    try:
        reader.version()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert subscription.get(0.2) == []
            reader.version()
        channel.broadcast("celery.pidbox", ControlRequest("ping").to_message())
        got: list[Any] = []
        wait_until(partial(_gather, got, subscription), TIMEOUT,
                   message="the broadcast after the idle time")
        writer.add(["late-id"], 60)
        wait_until(lambda: "late-id" in reader.load(), TIMEOUT, message="the late record")
        assert subscription.link.generation == 1 and reader.reader.generation == 1
    finally:
        subscription.close()
        reader.close()
        writer.close()
        transport.close()
