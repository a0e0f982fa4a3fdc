"""Gossip between real ``celeriac worker`` processes on Redis, RabbitMQ and SQLite.

Two gossiping workers and one ``--without-gossip`` worker: each gossiping worker logs the
others joining; ``app.control.election(id, 'task', signature)`` makes exactly one worker win
and send the task, which runs once (each run appends a line to a file); the silent worker
takes no part; a worker that stops is logged as gone by the other. The election with a real
Celery worker is ``tests/interop/test_gossip_celery_interop.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
    write_module,
)
from tests.suite_redis import flush_suite_db, suite_redis_url

pytestmark = [pytest.mark.slow]
REDIS_URL = suite_redis_url(6)

APP_SOURCE = """
import os
from celeriac import Celery

app = Celery({name!r}, broker={url!r})
app.conf.task_default_queue = {queue!r}


@app.task(name="gossip.record")
def record(path, tag):
    with open(path, "a") as runs:
        runs.write(f"{{tag}} {{os.getpid()}}\\n")
"""


@pytest.fixture(params=["redis", "sqlite", pytest.param("amqp", marks=[pytest.mark.amqp])])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        flush_suite_db(REDIS_URL).close()
        yield REDIS_URL
        flush_suite_db(REDIS_URL).close()
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'broker.db'}"
    else:
        from tests.integration.amqp_vhost import rabbitmq_vhost

        with rabbitmq_vhost("gossip") as vhost:
            yield vhost.url


def decisions(election: str, *workers: WorkerProcess) -> tuple[list[str], list[str]]:
    """The ``I won`` and the ``elected for`` lines about ``election`` in the workers' logs."""
    lines = [line for worker in workers for line in worker.log().splitlines()]
    return ([line for line in lines if f"I won the election {election!r}" in line],
            [line for line in lines if f"elected for {election!r}" in line])


def runs_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_an_election_among_worker_processes(tmp_path: Path, broker_url: str) -> None:
    module = unique_name("gossip_app")
    write_module(tmp_path, module, APP_SOURCE.format(name=module, url=broker_url,
                                                     queue=f"q-{uuid.uuid4().hex[:6]}"))
    app: Any = import_app_module(tmp_path, module).app  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex[:6]
    nodes = {role: f"{role}-{tag}@test" for role in ("first", "second", "quiet")}
    with ExitStack() as stack:
        stack.callback(app.close)
        workers = {role: stack.enter_context(running_worker(
            tmp_path, "-A", module, "worker", "-P", "solo", "-n", node, "-l", "info",
            *(("--without-gossip",) if role == "quiet" else ()), name=role))
            for role, node in nodes.items()}
        first, second, quiet = workers["first"], workers["second"], workers["quiet"]
        for worker, others in ((first, ("second", "quiet")), (second, ("first", "quiet"))):
            wait_until(lambda w=worker, o=others: all(  # type: ignore[misc]
                f"] {nodes[role]} joined the party" in w.log() for role in o),
                timeout=60, interval=0.2, message="the workers to see each other")
        runs = tmp_path / "runs.txt"
        election = f"election-{tag}"
        app.control.election(election, "task",
                             dict(app.signature("gossip.record", (str(runs), election))))
        wait_until(lambda: sum(map(len, decisions(election, first, second))) == 2, timeout=60,
                   interval=0.2, message="both gossiping workers to decide")
        won, lost = decisions(election, first, second, quiet)
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        wait_until(lambda: runs_of(runs), timeout=60, interval=0.2, message="the task to run")
        assert [line.split()[0] for line in runs_of(runs)] == [election]
        assert "takes no part in gossip" in quiet.log()
        assert "Gossip with other workers is off: --without-gossip" in quiet.log()
        second.stop()
        wait_until(lambda: f"{nodes['second']} left" in first.log(), timeout=30,
                   interval=0.2, message="the first worker to see the second leave")
