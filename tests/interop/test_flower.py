"""Flower, the monitor most Celery users run, watching a worker: Celery's, then celeriac's.

Real Flower (``celery -A <module> flower``, stopped by PID) is pointed at the broker; a worker
runs with ``-E``. Through Flower's HTTP API the test checks what a user would look at: the
worker in ``/api/workers``, every task with its final state in ``/api/tasks`` and
``/api/task/info/<id>``, and that Flower's actions reach the worker: a revoke (the worker
lists the id among its revoked ones, and refuses the task when it comes) and a rate limit
(answered by the worker itself). The Celery worker proves the harness; the celeriac worker
must look the same to Flower.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    supervised,
    unique_name,
    wait_until,
)
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.integration.redis_server import _free_port
from tests.suite_redis import suite_redis_url

pytest.importorskip("flower")

pytestmark = [pytest.mark.slow]
REDIS_BROKER = suite_redis_url(11)
QUEUE = "flower.interop"

TASKS = """
from {package} import Celery

app = Celery("{name}", broker="{broker}")
app.conf.broker_connection_retry_on_startup = True


@app.task(name="fl.add")
def add(x, y):
    return x + y


@app.task(name="fl.boom")
def boom():
    raise ValueError("boom")
"""


def _amqp_has_fanout() -> bool:
    from celeriac.transport.amqp import AmqpTransport

    channel_class = getattr(AmqpTransport, "channel_class", None)
    if channel_class is None:
        from celeriac.transport.amqp.channel import AmqpChannel as channel_class
    return hasattr(channel_class, "subscribe") and hasattr(channel_class, "broadcast")


@pytest.fixture(params=["celery-redis", "celeriac-redis", "celeriac-amqp"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``(flavour, broker URL, folder)`` with a clean broker for this test."""
    flavour, broker_kind = request.param.split("-")
    if broker_kind == "redis":
        with flushed_redis(REDIS_BROKER):
            yield flavour, REDIS_BROKER, tmp_path
        return
    if not _amqp_has_fanout():
        pytest.skip("the AMQP channel has no fanout (FanoutChannel) yet, so a celeriac worker "
                    "on RabbitMQ sends no events: enabled once amqp-control has landed")
    from tests.integration.amqp_vhost import rabbitmq_vhost

    with rabbitmq_vhost("flower") as vhost:
        yield flavour, vhost.url, tmp_path


def _module(directory: Path, package: str, broker: str) -> str:
    name = unique_name(f"flower_{package}")
    source = TASKS.format(package=package, name=name, broker=broker)
    (directory / f"{name}.py").write_text(source + (WAKEUP if package == "celery" else ""))
    return name


@contextmanager
def running_flower(directory: Path, module: str,
                   broker: str) -> Iterator[tuple[str, WorkerProcess]]:
    """Flower on a free local port, its API open without auth; yields its base URL."""
    port = _free_port()
    log_path = directory / "flower.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", module, "--broker", broker, "flower",
             f"--port={port}", "--address=127.0.0.1", "--inspect_timeout=3000"],
            cwd=directory, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true",
                 "PYTHONPATH": f"{directory}{os.pathsep}{os.getcwd()}"},
        )  # fmt: skip
    with supervised(WorkerProcess(process, log_path), "flower") as flower:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base), timeout=30, message="Flower's HTTP server")
        yield base, flower


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthcheck", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def api(base: str, path: str, data: dict[str, str] | None = None) -> Any:
    """GET (or POST ``data``) ``path`` on Flower; the decoded JSON answer."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(f"{base}{path}", data=body, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _worker(flavour: str, directory: Path, module: str) -> AbstractContextManager[WorkerProcess]:
    if flavour == "celery":
        return celery_worker(directory, module, QUEUE, "-E", heartbeat=True)
    return running_worker(directory, "-A", module, "worker", "-P", "solo", "-Q", QUEUE,
                          "-n", f"{module}@%h", "-E", "-l", "info", name=module)


def test_flower_shows_the_worker_and_its_tasks_and_acts_on_it(
        setup: tuple[str, str, Path]) -> None:
    flavour, broker, directory = setup
    flower_module = _module(directory, "celery", broker)
    worker_module = flower_module if flavour == "celery" else _module(directory, "celeriac",
                                                                      broker)
    client = import_app_module(directory, flower_module).app  # type: ignore[attr-defined]
    worker_name = f"{worker_module}@{socket.gethostname()}"
    try:
        with running_flower(directory, flower_module, broker) as (base, _), \
                _worker(flavour, directory, worker_module):
            wait_until(lambda: worker_name in api(base, "/api/workers?refresh=1"),
                       timeout=30, message=f"{worker_name} in /api/workers")
            workers = api(base, "/api/workers")
            assert "fl.add" in workers[worker_name]["registered"]
            assert api(base, "/api/workers?status=1").get(worker_name) is True

            added = client.send_task("fl.add", (2, 3), queue=QUEUE).id
            failed = client.send_task("fl.boom", queue=QUEUE).id

            def final(task_id: str, state: str) -> bool:
                return bool(api(base, "/api/tasks").get(task_id, {}).get("state") == state)

            wait_until(lambda: final(added, "SUCCESS") and final(failed, "FAILURE"),
                       timeout=30, message="both tasks final in /api/tasks")
            info = api(base, f"/api/task/info/{added}")
            assert info["name"] == "fl.add" and info["result"] == "5"
            assert info["worker"] == worker_name and info["received"] and info["succeeded"]
            boom = api(base, f"/api/task/info/{failed}")
            assert boom["state"] == "FAILURE" and "ValueError" in boom["exception"]

            revoked = str(uuid.uuid4())
            answer = api(base, f"/api/task/revoke/{revoked}", {"terminate": "false"})
            assert answer == {"message": f"Revoked '{revoked}'"}

            def listed_revoked() -> bool:
                one = api(base, f"/api/workers?refresh=1&workername={worker_name}")
                return revoked in (one.get(worker_name, {}).get("revoked") or [])

            wait_until(listed_revoked, timeout=20, message="the revoke reaching the worker")
            client.send_task("fl.add", (1, 1), queue=QUEUE, task_id=revoked)
            wait_until(lambda: final(revoked, "REVOKED"), timeout=20,
                       message="the revoked task refused by the worker")

            limited = api(base, "/api/task/rate-limit/fl.add",
                          {"workername": worker_name, "ratelimit": "10/m"})
            assert limited == {"message": "new rate limit set successfully"}
    finally:
        close_celery_app(client)
