"""An in-process ``ControlNode`` answering the real ``Control`` client over memory:// and SQLite."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.control import Control
from celeriac.control.revocations import open_revocation_store
from celeriac.execution.request import Request
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Delivery
from celeriac.worker.control import ControlNode, TaskInfo
from celeriac.worker.revoked import RevokedRegistry
from tests.helpers import wait_until


@dataclass
class FakeWorker:
    """A ``WorkerView`` recording the actions asked of it."""

    hostname: str
    revoked: RevokedRegistry
    running: list[TaskInfo] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    task_events: bool = False
    gossip: bool = True

    def registered(self) -> Sequence[str]:
        return ["proj.add", "proj.sleepy", "celery.chord_unlock"]

    def task_options(self, name: str) -> Mapping[str, Any]:
        return {"rate_limit": "10/m"} if name == "proj.add" else {}

    def active(self) -> Sequence[TaskInfo]:
        return list(self.running)

    def reserved(self) -> Sequence[TaskInfo]:
        return []

    def scheduled(self) -> Sequence[TaskInfo]:
        return []

    def queues(self) -> Sequence[str]:
        return ["celery"]

    def stats(self) -> dict[str, Any]:
        return {"total": {"proj.add": 3}, "pool": {"max-concurrency": 2},
                "broker": {"transport": "memory"}, "prefetch_count": 8}

    def conf(self, with_defaults: bool = False) -> dict[str, Any]:
        return {"task_default_queue": "celery", **({"defaults": True} if with_defaults else {})}

    def terminate(self, task_id: str, signum: int) -> bool:
        self.calls.append(("terminate", (task_id, signum)))
        return any(info.request.task_id == task_id for info in self.running)

    def set_rate_limit(self, task_name: str, rate: str | None) -> None:
        self.calls.append(("rate_limit", (task_name, rate)))

    def set_time_limit(self, task_name: str, soft: float | None, hard: float | None) -> None:
        self.calls.append(("time_limit", (task_name, soft, hard)))

    def shutdown(self) -> None:
        self.calls.append(("shutdown", None))

    def send_heartbeat(self) -> bool:
        self.calls.append(("heartbeat", None))
        return True

    def election(self, id: str, topic: str, action: Any) -> bool:
        self.calls.append(("election", (id, topic, action)))
        return self.gossip

    def set_task_events(self, enabled: bool) -> bool | None:
        changed, self.task_events = self.task_events != enabled, enabled
        return changed

    def pool_grow(self, n: int) -> None:
        self.calls.append(("pool_grow", n))

    def pool_shrink(self, n: int) -> None:
        self.calls.append(("pool_shrink", n))

    def pool_restart(self, modules: Sequence[str] | None, reload: bool) -> None:
        self.calls.append(("pool_restart", (modules, reload)))

    def autoscale(self, maximum: int | None, minimum: int | None) -> tuple[int, int]:
        self.calls.append(("autoscale", (maximum, minimum)))
        return (maximum or 4, minimum or 1)

    def add_consumer(self, queue: str, exchange: str | None, exchange_type: str | None,
                     routing_key: str | None, options: Mapping[str, Any]) -> None:
        self.calls.append(("add_consumer", (queue, exchange, exchange_type, routing_key)))

    def cancel_consumer(self, queue: str) -> None:
        self.calls.append(("cancel_consumer", queue))


def _running(task_id: str) -> TaskInfo:
    message = TaskMessage(headers={"id": task_id, "task": "proj.sleepy", "argsrepr": "(3,)",
                                   "kwargsrepr": "{}"},
                          properties={"delivery_info": {"exchange": "", "routing_key": "celery"},
                                      "priority": 0}, body=b"[[3], {}, {}]")
    request = Request(Delivery(message, "celery", "1"), "proj.sleepy", task_id, None, "w1@test")
    return TaskInfo(request, acknowledged=True, time_start=1.5, worker_pid=42)


@pytest.fixture(params=["memory", "sqlite"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://control-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'broker.db'}"


@pytest.fixture
def app(broker_url: str) -> Iterator[Celery]:
    app = Celery("control_test", broker=broker_url, set_as_current=False)
    yield app
    app.close()


def _node(app: Celery, hostname: str) -> tuple[ControlNode, FakeWorker]:
    worker_app = Celery("control_worker", broker=app.conf.broker_url, set_as_current=False)
    registry = RevokedRegistry(open_revocation_store(worker_app.transport))
    view = FakeWorker(hostname, registry)
    node = ControlNode(worker_app.transport.channel(), view, poll_timeout=0.2)
    assert node.start()
    return node, view


@pytest.fixture
def nodes(app: Celery) -> Iterator[list[tuple[ControlNode, FakeWorker]]]:
    started = [_node(app, "w1@test"), _node(app, "w2@test")]
    yield started
    for node, _ in started:
        node.stop()
        node.channel.close()


def test_ping_reaches_every_node(app: Celery, nodes: list[Any]) -> None:
    control = Control(app)
    try:
        replies = control.ping(timeout=2.0, limit=2)
        assert sorted(replies, key=str) == [{"w1@test": {"ok": "pong"}},
                                            {"w2@test": {"ok": "pong"}}]
        assert control.ping(destination=["w2@test"], timeout=2.0) == [
            {"w2@test": {"ok": "pong"}}]
    finally:
        control.close()


def test_inspect_answers(app: Celery, nodes: list[Any]) -> None:
    nodes[0][1].running.append(_running("t-1"))
    control = Control(app)
    try:
        inspect = control.inspect(destination="w1@test", timeout=2.0)
        assert inspect.registered() == ["proj.add", "proj.sleepy"]
        assert inspect.registered("rate_limit") == ["proj.add [rate_limit=10/m]", "proj.sleepy"]
        [active] = inspect.active()
        assert active["id"] == "t-1" and active["worker_pid"] == 42
        assert active["args"] == "(3,)"  # body not decoded here: the repr is shown
        stats = inspect.stats()
        assert stats["total"] == {"proj.add": 3} and "pid" in stats and "rusage" in stats
        assert inspect.active_queues()[0]["name"] == "celery"
        assert inspect.conf() == {"task_default_queue": "celery"}
        assert inspect.reserved() == [] and inspect.scheduled() == []
        everyone = control.inspect(timeout=2.0, limit=2).ping()
        assert set(everyone) == {"w1@test", "w2@test"}
    finally:
        control.close()


def test_unknown_command_answers_an_error(app: Celery, nodes: list[Any]) -> None:
    control = Control(app)
    try:
        replies = control.broadcast("no_such", reply=True, destination="w1@test", timeout=2.0)
        assert replies == [{"w1@test": {"error": "No such command: no_such"}}]
    finally:
        control.close()


def test_revoke_reaches_running_and_later_workers(app: Celery, nodes: list[Any]) -> None:
    control = Control(app)
    try:
        control.revoke("t-9")
        for _, view in nodes:
            revoked = view.revoked
            wait_until(lambda revoked=revoked: "t-9" in revoked,  # type: ignore[misc]  # default binds the loop value
                       timeout=5, message="revoke broadcast")
        assert control.inspect(destination="w1@test", timeout=2.0).revoked() == ["t-9"]
        # A worker started after the revoke learns it from the durable store.
        late_app = Celery("late", broker=app.conf.broker_url, set_as_current=False)
        try:
            late = RevokedRegistry(open_revocation_store(late_app.transport))
            assert late.refresh()
            assert "t-9" in late
            assert not late.refresh()  # version unchanged: no reload
        finally:
            late_app.close()
    finally:
        control.close()


def test_revoke_terminate_asks_the_pool(app: Celery, nodes: list[Any]) -> None:
    view = nodes[0][1]
    view.running.append(_running("t-2"))
    control = Control(app)
    try:
        replies = control.revoke("t-2", terminate=True, signal="SIGKILL", reply=True,
                                 destination="w1@test", timeout=2.0)
        assert replies == [{"w1@test": {"ok": "terminate: t-2"}}]
        assert ("terminate", ("t-2", signal.SIGKILL)) in view.calls
    finally:
        control.close()


def test_rate_and_time_limits_and_shutdown(app: Celery, nodes: list[Any]) -> None:
    view = nodes[0][1]
    control = Control(app)
    try:
        assert control.rate_limit("proj.add", "10/m", destination="w1@test", reply=True,
                                  timeout=2.0) == [
            {"w1@test": {"ok": "new rate limit set successfully"}}]
        assert control.rate_limit("proj.nope", "1/s", destination="w1@test", reply=True,
                                  timeout=2.0) == [{"w1@test": {"error": "unknown task proj.nope"}}]
        assert control.time_limit("proj.add", soft=5, hard=10, destination="w1@test",
                                   timeout=2.0) == [
            {"w1@test": {"ok": "time limits set successfully"}}]
        control.shutdown(destination="w1@test")
        wait_until(lambda: ("shutdown", None) in view.calls, timeout=5, message="shutdown")
        assert ("rate_limit", ("proj.add", "10/m")) in view.calls
        assert ("time_limit", ("proj.add", 5.0, 10.0)) in view.calls
        assert all(call[0] != "shutdown" for call in nodes[1][1].calls)
    finally:
        control.close()


def test_expired_commands_are_ignored(app: Celery, nodes: list[Any]) -> None:
    from celeriac.control.mailbox import ControlRequest

    control = Control(app)
    try:
        stale = ControlRequest("shutdown", expires=time.time() - 10)
        control.mailbox.fanout.broadcast("celery.pidbox", stale.to_message())
        assert control.ping(timeout=2.0, limit=2)  # processed after the stale one
        assert all(call[0] != "shutdown" for _, view in nodes for call in view.calls)
    finally:
        control.close()


def _cli(app: Celery, *args: str) -> Any:
    from click.testing import CliRunner

    from celeriac.cli.main import CliState, cli

    return CliRunner().invoke(cli, list(args), obj=CliState(app_object=app))


def test_cli_inspect_status_and_control(app: Celery, nodes: list[Any]) -> None:
    result = _cli(app, "inspect", "ping", "-d", "w1@test", "-t", "2")
    assert result.exit_code == 0, result.output
    assert "->  w1@test: OK" in result.output and "pong" in result.output
    result = _cli(app, "inspect", "registered", "-d", "w1@test", "-t", "2", "--json")
    assert result.exit_code == 0, result.output
    assert '"w1@test": ["proj.add", "proj.sleepy"]' in result.output
    result = _cli(app, "status", "-t", "2")
    assert result.exit_code == 0 and "2 nodes online." in result.output, result.output
    result = _cli(app, "control", "rate_limit", "proj.add", "3/s", "-d", "w2@test", "-t", "2")
    assert result.exit_code == 0 and "new rate limit set" in result.output, result.output
    assert ("rate_limit", ("proj.add", "3/s")) in nodes[1][1].calls
    result = _cli(app, "control", "revoke", "id-1", "id-2", "-d", "w1@test", "-t", "2")
    assert result.exit_code == 0 and "flagged as revoked" in result.output, result.output
    assert "id-2" in nodes[0][1].revoked
    result = _cli(app, "inspect", "ping", "-d", "nobody@test", "-t", "0.3")
    assert result.exit_code == 69 and "No nodes replied" in result.output  # EX_UNAVAILABLE


def test_sqlite_control_across_processes(tmp_path: Path) -> None:
    """A client in another process reaches the node through the shared SQLite file."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    app = Celery("xproc", broker=url, set_as_current=False)
    node, _ = _node(app, "wx@test")
    script = (
        "from celeriac import Celery\n"
        "from celeriac.control import Control\n"
        f"app = Celery('client', broker={url!r}, set_as_current=False)\n"
        "control = Control(app)\n"
        "print(control.ping(timeout=10.0, limit=1))\n"
        "control.revoke('xp-1')\n"
        "control.close(); app.close()\n"
    )
    try:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        try:
            out, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert "{'wx@test': {'ok': 'pong'}}" in out.decode(), out
        wait_until(lambda: "xp-1" in node.view.revoked, timeout=10, message="revoke")
    finally:
        node.stop()
        node.channel.close()
        app.close()
