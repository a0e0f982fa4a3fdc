"""Issue 13: remote control that changes a running worker, against real ``celeriac worker``
processes, driven with ``app.control.broadcast`` as a Celery client would.

``pool_grow``/``pool_shrink`` resize prefork and threads pools (the prefetch window follows),
shrinking never kills a running task, solo refuses with Celery's error; ``--autoscale`` grows
under a backlog and shrinks when idle, ``autoscale`` moves its range; ``add_consumer`` /
``cancel_consumer`` change the consumed queues (``inspect active_queues`` follows);
``pool_restart`` is refused without ``worker_pool_restarts`` and replaces the children with it.

Concurrency is proven without clocks: ``meet(n)`` tasks wait (generously) until ``n`` of them
have started, which only happens when ``n`` run side by side.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from tests.helpers import in_process_worker, wait_until
from tests.integration import promises_fixtures
from tests.integration.amqp_vhost import rabbitmq_vhost
from tests.integration.promises_fixtures import Project, ProjectFactory, wait_ready

broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
@app.task
def nap(seconds):
    note("nap")
    time.sleep(seconds)
    return os.getpid()


@app.task
def meet(n, timeout=30):
    '''True once n ``meet`` tasks have started (they must run side by side).'''
    note("meet")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(EVENTS) as fh:
            if sum(1 for line in fh if line.startswith("meet ")) >= n:
                return True
        time.sleep(0.05)
    return False
"""

#: A user-chosen multiplier makes ``prefetch_count`` exactly concurrency x 2.
CONF = "app.conf.worker_prefetch_multiplier = 2\n"


def ask(project: Project, node: str, command: str, **arguments: Any) -> Any:
    """``command``'s answer from ``node`` (a broadcast with reply, as Celery clients send)."""
    replies = project.app.control.broadcast(command, arguments=arguments, destination=[node],
                                            reply=True, timeout=5) or []
    answers = [reply[node] for reply in replies if node in reply]
    assert answers, f"no reply from {node} to {command}: {replies}"
    return answers[0]


def processes(project: Project, node: str) -> int:
    return len(ask(project, node, "stats")["pool"]["processes"])


def test_prefork_grows_and_shrinks_without_killing_running_tasks(
        make_project: ProjectFactory) -> None:
    project = make_project(TASKS, conf=CONF)
    node = f"grow-{project.name}@test"
    with project.worker("-P", "prefork", "-c", "1", "-n", node, "-l", "info") as worker:
        wait_ready(worker)
        assert ask(project, node, "pool_grow", n=2) == {"ok": "pool will grow"}
        wait_until(lambda: processes(project, node) == 3, 30, message="three children")
        stats = ask(project, node, "stats")
        assert stats["pool"]["max-concurrency"] == 3 and stats["prefetch_count"] == 6
        results = [project.module.meet.delay(3) for _ in range(3)]
        wait_until(lambda: len(project.events_with("meet")) == 3, 30, message="3 tasks run")
        # Every child is busy: shrinking retires two of them only after their tasks.
        assert ask(project, node, "pool_shrink", n=2) == {"ok": "pool will shrink"}
        assert [r.get(timeout=30) for r in results] == [True, True, True]
        wait_until(lambda: processes(project, node) == 1, 30, message="one child left")
        stats = ask(project, node, "stats")
        assert stats["pool"]["max-concurrency"] == 1 and stats["prefetch_count"] == 2
        assert project.module.nap.delay(0).get(timeout=30) in stats["pool"]["processes"]
    assert "WorkerLostError" not in worker.log()


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_threads_pool_grows_and_solo_refuses(make_project: ProjectFactory) -> None:
    project = make_project(TASKS, conf=CONF)
    threads, solo = f"threads-{project.name}@test", f"solo-{project.name}@test"
    with project.worker("-P", "threads", "-c", "1", "-n", threads, "-l", "info") as worker:
        wait_ready(worker)
        assert ask(project, threads, "pool_grow", n=2) == {"ok": "pool will grow"}
        assert ask(project, threads, "stats")["pool"]["max-concurrency"] == 3
        results = [project.module.meet.delay(3) for _ in range(3)]
        assert [r.get(timeout=40) for r in results] == [True, True, True]
    with project.worker("-P", "solo", "-n", solo, "-l", "info", name="solo") as worker:
        wait_ready(worker)
        assert ask(project, solo, "pool_grow", n=1) == {
            "error": "AttributeError(\"'TaskPool' object has no attribute 'grow'\")"}


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_autoscale_grows_under_backlog_and_shrinks_when_idle(
        make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    node = f"auto-{project.name}@test"
    with project.worker("-P", "prefork", "--autoscale", "3,1", "-n", node, "-l", "info",
                        env={"AUTOSCALE_KEEPALIVE": "1"}) as worker:
        wait_ready(worker)
        assert "concurrency: {min=1, max=3} (prefork)" in worker.log()
        scaler = ask(project, node, "stats")["autoscaler"]
        assert (scaler["max"], scaler["min"], scaler["current"]) == (3, 1, 1)
        assert ask(project, node, "pool_grow", n=1) == {
            "error": "pool_grow is not supported with autoscale. Adjust autoscale range "
                     "instead."}
        results = [project.module.meet.delay(3) for _ in range(3)]
        assert [r.get(timeout=40) for r in results] == [True, True, True]
        wait_until(lambda: processes(project, node) == 1, 30, message="scaled down to 1")
        assert ask(project, node, "autoscale", max=5, min=2) == {
            "ok": "autoscale now max=5 min=2"}
        wait_until(lambda: processes(project, node) == 2, 30, message="min raised to 2")
        scaler = ask(project, node, "stats")["autoscaler"]
        assert (scaler["max"], scaler["min"]) == (5, 2)
    assert "Scaling up" in worker.log() and "Scaling down" in worker.log()


def test_add_consumer_and_cancel_consumer(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    node = f"queues-{project.name}@test"
    extra = f"extra.{project.name}"
    with project.worker("-P", "threads", "-c", "2", "-n", node, "-l", "info") as worker:
        wait_ready(worker)
        waiting = project.module.nap.apply_async((0,), queue=extra)
        assert ask(project, node, "add_consumer", queue=extra) == {
            "ok": f"add consumer {extra}"}
        assert waiting.get(timeout=30)
        names = [q["name"] for q in ask(project, node, "active_queues")]
        assert extra in names and f"q.{project.name}" in names
        assert ask(project, node, "cancel_consumer", queue=extra) == {
            "ok": f"no longer consuming from {extra}"}
        assert extra not in [q["name"] for q in ask(project, node, "active_queues")]
        left = project.module.nap.apply_async((0,), queue=extra)
        # Still served on the default queue, while the cancelled one keeps its message.
        assert project.module.nap.delay(0).get(timeout=30)
        assert left.state == "PENDING"
        channel = project.app.transport.channel()
        try:
            assert channel.size(extra) == 1
        finally:
            channel.close()


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_pool_restart_needs_the_setting_and_replaces_children(
        make_project: ProjectFactory) -> None:
    refused = make_project(TASKS)
    node = f"norestart-{refused.name}@test"
    with refused.worker("-P", "prefork", "-c", "1", "-n", node, "-l", "info") as worker:
        wait_ready(worker)
        assert ask(refused, node, "pool_restart") == {
            "error": "ValueError('Pool restarts not enabled')"}
    project = make_project(TASKS, conf="app.conf.worker_pool_restarts = True\n")
    node = f"restart-{project.name}@test"
    extra = f"extra_{project.name}"
    (project.directory / f"{extra}.py").write_text(textwrap.dedent(f"""
        from {project.name} import app

        @app.task(name="{extra}.hello")
        def hello():
            return "hello"
    """))
    with project.worker("-P", "prefork", "-c", "2", "-n", node, "-l", "info",
                        name="restart") as worker:
        wait_ready(worker)
        before = set(ask(project, node, "stats")["pool"]["processes"])
        assert len(before) == 2
        assert ask(project, node, "pool_restart", modules=[extra]) == {"ok": "reload started"}

        def replaced() -> bool:
            pids = set(ask(project, node, "stats")["pool"]["processes"])
            return len(pids) == 2 and not pids & before

        wait_until(replaced, 30, message="fresh children")
        assert project.app.send_task(f"{extra}.hello").get(timeout=30) == "hello"



def test_add_consumer_declares_a_topic_binding_on_rabbitmq(tmp_path: Path) -> None:
    """Through the control node's own dispatch (the amqp:// pidbox is not wired here yet)."""
    with rabbitmq_vhost("addconsumer") as vhost:
        app = Celery("addconsumer", broker=vhost.url,
                     backend=f"sqlite:///{tmp_path / 'results.db'}", set_as_current=False)
        app.conf.task_default_queue = "main"

        @app.task(name="amqp.nap")
        def nap() -> int:
            return os.getpid()

        extra, exchange = "extra", "jobs_exchange"
        try:
            with in_process_worker(app, pool="threads", concurrency=2,
                                   hostname="amqp@test") as worker:
                wait_until(lambda: worker.control_node is not None
                           and worker.consumer is not None, 30, message="worker set up")
                assert worker.control_node is not None
                dispatch = worker.control_node.dispatch
                assert dispatch("add_consumer", {
                    "queue": extra, "exchange": exchange, "exchange_type": "topic",
                    "routing_key": "jobs.#"}) == {"ok": f"add consumer {extra}"}
                assert extra in [q["name"] for q in dispatch("active_queues", {})]
                routed = nap.apply_async(exchange=exchange, routing_key="jobs.urgent")
                assert routed.get(timeout=30) == os.getpid()
                assert dispatch("cancel_consumer", {"queue": extra}) == {
                    "ok": f"no longer consuming from {extra}"}
                # RabbitMQ pushes until the consumer's basic.cancel, sent with the fetch after
                # the command: a task fetched from the main queue proves that one happened.
                assert nap.delay().get(timeout=30) == os.getpid()
                left = nap.apply_async(exchange=exchange, routing_key="jobs.later")
                assert nap.delay().get(timeout=30) == os.getpid()
                wait_until(lambda: vhost.queues().get(extra) == 1, 30, message="kept message")
                assert left.state == "PENDING"
        finally:
            app.close()
