"""One election among a real Celery worker and a celeriac worker on one Redis.

Both run gossip: each sees the other join (Celery logs it at debug level), both answer
``election(id, 'task', signature)`` with ``worker-elect``/``worker-elect-ack`` on the
``celeryev`` exchange, both name the same leader, and the task runs exactly once, whichever
worker won (each run appends a line to a file).

A third, ``--without-gossip`` celeriac worker is alive too. It is there for Celery's sake:
Celery decides once it has as many acks as it sees other alive workers, so with one peer it
decides on its first ack, which is often its own, before the peer's request came; kombu's
``sort_heap`` then fails on a one-entry heap (``IndexError``, and the Celery worker stops:
seen in 1 of 5 runs without the third worker). With two others alive it waits for a second
ack, and celeriac sends its request before its first ack, so Celery has both requests.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.integration.test_gossip_workers import decisions, runs_of
from tests.suite_redis import suite_redis_url

pytest.importorskip("celery")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(6)

TASK = """
app.conf.task_default_queue = {queue!r}


@app.task(name="gossip.record")
def record(path, tag):
    import os
    with open(path, "a") as runs:
        runs.write(f"{{tag}} {{os.getpid()}}\\n")
"""
CELERIAC_APP = "from celeriac import Celery\napp = Celery({name!r}, broker={url!r})\n" + TASK
CELERY_APP = "from celery import Celery\napp = Celery({name!r}, broker={url!r})\n" + TASK


def joined(worker: WorkerProcess, name: str) -> bool:
    """Whether ``worker`` logged that the node ``name`` (or one starting so) joined; the
    ``] `` before it keeps ``x@test`` from matching ``y-x@test``."""
    return any(f"] {name}" in line and "joined the party" in line
               for line in worker.log().splitlines())


def test_celery_and_celeriac_workers_hold_one_election(tmp_path: Path) -> None:
    queue = f"gossip-{uuid.uuid4().hex[:6]}"
    ours, theirs = unique_name("gossip_celeriac"), unique_name("gossip_celery")
    (tmp_path / f"{ours}.py").write_text(CELERIAC_APP.format(name=ours, url=BROKER, queue=queue))
    (tmp_path / f"{theirs}.py").write_text(
        CELERY_APP.format(name=theirs, url=BROKER, queue=queue) + WAKEUP)
    app: Any = import_app_module(tmp_path, ours).app  # type: ignore[attr-defined]
    node, quiet_node = f"{ours}@test", f"{ours}-quiet@test"
    worker = ("-A", ours, "worker", "-P", "solo", "-Q", queue, "-l", "info")
    with flushed_redis(BROKER), \
            celery_worker(tmp_path, theirs, queue, "-l", "debug", gossip=True) as celery, \
            running_worker(tmp_path, *worker, "-n", node, name=ours) as celeriac, \
            running_worker(tmp_path, *worker, "-n", quiet_node, "--without-gossip",
                           name="quiet") as quiet:
        try:
            wait_until(lambda: joined(celeriac, f"{theirs}@"), timeout=60, interval=0.2,
                       message="the celeriac worker to see the Celery worker")
            # Celery must count both celeriac workers alive (module docstring).
            wait_until(lambda: joined(celery, node) and joined(celery, quiet_node),
                       timeout=60, interval=0.2,
                       message="the Celery worker to see the celeriac workers")
            runs = tmp_path / "runs.txt"
            election = f"election-{uuid.uuid4().hex[:6]}"
            app.control.election(election, "task",
                                 dict(app.signature("gossip.record", (str(runs), election))))
            wait_until(lambda: sum(map(len, decisions(election, celery, celeriac))) == 2,
                       timeout=60, interval=0.2, message="both workers to decide")
            won, lost = decisions(election, celery, celeriac, quiet)
            assert len(won) == 1 and len(lost) == 1, (won, lost)
            wait_until(lambda: runs_of(runs), timeout=60, interval=0.2,
                       message="the task to run")
            assert [line.split()[0] for line in runs_of(runs)] == [election]
        finally:
            app.close()
