"""Redis restarted under a running worker, on a private ``redis-server`` with persistence.

The shared server must never be restarted by a test, so these tests start their own (see
``redis_server.py``): a free port, AOF with ``appendfsync always`` in the test's tmp folder, so a
restart keeps every queued and in-flight message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import OperationalError
from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

APP_SOURCE = """
import os, time
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend={results!r})
app.conf.task_publish_retry_policy = {{
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
}}
RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.txt")


@app.task(ignore_result=True)
def record(n):
    time.sleep(0.01)  # long enough for the restart to land while tasks still flow
    with open(RUNS, "a") as fh:
        fh.write(f"{{n}}\\n")
"""

TOTAL = 300


@pytest.fixture
def project(server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    name = unique_name("redis_restart")
    source = APP_SOURCE.format(name=name, broker=server.url(0), results=server.url(1))
    (tmp_path / f"{name}.py").write_text(source)
    module: Any = import_app_module(tmp_path, name)
    yield name, module
    module.app.close()


def runs(tmp_path: Path) -> list[int]:
    path = tmp_path / "runs.txt"
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def test_redis_restart_while_tasks_flow_loses_and_repeats_nothing(
    project: tuple[str, Any], server: RedisServer, tmp_path: Path
) -> None:
    name, mod = project
    with mod.app.publish_batch():
        for i in range(TOTAL):
            mod.record.delay(i)
    assert server.client().llen("celery") == TOTAL
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-l", "info") as worker:
        wait_until(lambda: len(runs(tmp_path)) >= 50, 30, message="the first tasks to run")
        # Stop by PID and keep Redis down until the worker has noticed (a blip shorter than
        # redis-py's own reconnect retries would prove nothing); then start it again on the
        # same port and folder: the AOF brings back every queued and unacked message.
        server.stop()
        assert len(runs(tmp_path)) < TOTAL, "the restart must land while tasks still flow"
        wait_until(
            lambda: "Redis connection lost" in worker.log(),
            20,
            message="the worker to log the outage",
        )
        server.start()
        wait_until(lambda: len(runs(tmp_path)) >= TOTAL, 60, message="every task to run")
        assert worker.process.poll() is None, "the worker carried on"
        log = worker.log()
    assert sorted(runs(tmp_path)) == list(range(TOTAL)), "each task ran exactly once"
    assert log.count("Redis connection lost") == 1, "the outage is logged once"
    assert "Redis connection re-established" in log
    client = server.client()
    assert client.llen("celery") == 0 and client.hlen("unacked") == 0
    client.close()


def test_delay_against_a_stopped_server_raises_operational_error(
    project: tuple[str, Any], server: RedisServer
) -> None:
    """``delay()`` gives up after ``task_publish_retry_policy`` (2 retries, <= 0.5 s apart)
    with a clear connection error instead of hanging."""
    _, mod = project
    mod.record.delay(0)  # connected and working before the outage
    server.stop()
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            mod.record.delay(1)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    started = time.monotonic()
    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    thread.join(15)
    assert not thread.is_alive(), (
        f"delay() still blocked after {time.monotonic() - started:.0f}s against a stopped Redis"
    )
    assert isinstance(outcome[0], OperationalError), outcome
    assert "publish" in str(outcome[0])
