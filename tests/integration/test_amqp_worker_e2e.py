"""RabbitMQ at worker level: real ``celeriac worker`` and ``celery worker`` processes.

Both directions against Celery 5.7 in one vhost of this module's own (deleted afterwards):

* a Celery client -> a ``celeriac worker``; a celeriac client -> a ``celery worker``: plain
  calls, ``send_task``, a failure, ``countdown``, msgpack + zlib, priorities (queues declared
  with ``x-max-priority`` through ``task_queue_max_priority``), results through ``rpc://``
  (each client reads the results of its own tasks) and through Redis (db 4);
* every connection of the vhost dropped (``rabbitmqctl close_all_connections``) while a client
  publishes and a celeriac worker consumes: every task whose ``delay()`` returned runs, and the
  worker resumes on its own;
* an ETA task further out than a shortened ``consumer_timeout`` runs once at its time, and the
  worker's consumer connection is never closed by RabbitMQ for holding it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.amqp_vhost import (
    HeldDelivery,
    Vhost,
    rabbitmq_vhost,
    short_consumer_timeout,
)
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.suite_redis import require_suite_redis, suite_redis_url

pytestmark = [pytest.mark.amqp, pytest.mark.slow]
REDIS_RESULTS = suite_redis_url(4)
TIMEOUT = 30.0

APP = """
import time
from {package} import Celery

app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.task_default_queue = {queue!r}
app.conf.task_queue_max_priority = 10
app.conf.accept_content = ["json", "msgpack"]
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_prefetch_multiplier = 1


@app.task(name="e2e.add")
def add(x, y):
    return x + y


@app.task(name="e2e.boom")
def boom(message):
    raise ValueError(message)


@app.task(name="e2e.stamp")
def stamp():
    return time.time()


@app.task(name="e2e.log")
def log(path, value):
    with open(path, "a") as fh:
        fh.write(str(value) + "\\n")
    return value
"""


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("worker") as made:
        yield made


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amqp_worker_e2e")


@pytest.fixture(scope="module")
def make_module(vhost: Vhost, workdir: Path) -> Callable[..., str]:
    """Write an app module for ``package`` (celery or celeriac) and return its name."""

    def make(package: str, backend: str, queue: str) -> str:
        name = unique_name(f"amqp_{package}")
        source = APP.format(package=package, name=name, broker=vhost.url, backend=backend,
                            queue=queue)  # fmt: skip
        if package == "celery":
            source += WAKEUP
        (workdir / f"{name}.py").write_text(source)
        return name

    return make


def celeriac_worker(workdir: Path, module: str, queue: str, *extra: str
                    ) -> AbstractContextManager[WorkerProcess]:  # fmt: skip
    return running_worker(workdir, "-A", module, "worker", "-P", "threads", "-c", "2",
                          "-Q", queue, "-l", "info", *extra, name=f"celeriac-{module}")  # fmt: skip


def _worker_for(package: str) -> Callable[..., AbstractContextManager[WorkerProcess]]:
    return celery_worker if package == "celery" else celeriac_worker


def _other(package: str) -> str:
    return "celeriac" if package == "celery" else "celery"


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _exercise(client: Any, forget: bool) -> None:
    """Plain call, send_task, failure, countdown, msgpack + zlib, each result read back."""
    results = []
    added = client.add.delay(2, 3)
    results.append(added)
    assert added.get(timeout=TIMEOUT) == 5
    sent = client.app.send_task("e2e.add", (20, 22))
    results.append(sent)
    assert sent.get(timeout=TIMEOUT) == 42
    failing = client.boom.delay("nope")
    results.append(failing)
    with pytest.raises(ValueError, match="nope"):
        failing.get(timeout=TIMEOUT)
    assert failing.state == "FAILURE"
    before = time.time()
    later = client.stamp.apply_async(countdown=2)
    results.append(later)
    assert later.get(timeout=TIMEOUT) >= before + 2 - 0.05
    packed = client.add.apply_async((40, 2), serializer="msgpack", compression="zlib")
    results.append(packed)
    assert packed.get(timeout=TIMEOUT) == 42
    if forget:  # Redis: leave no result keys behind in db 4
        for result in results:
            result.forget()


# -- interop both directions, results through rpc:// and Redis ------------------------------
@pytest.mark.parametrize("client_package", ["celery", "celeriac"])
def test_interop_results_through_rpc(
    client_package: str, make_module: Callable[..., str], workdir: Path
) -> None:
    """A Celery client and a celeriac worker (and the other way round) over ``rpc://``."""
    queue = unique_name(f"rpc_{client_package}")
    client_module = make_module(client_package, "rpc://", queue)
    worker_module = make_module(_other(client_package), "rpc://", queue)
    client: Any = import_app_module(workdir, client_module)
    try:
        with _worker_for(_other(client_package))(workdir, worker_module, queue):
            _exercise(client, forget=False)
    finally:
        client.app.close()


@pytest.mark.parametrize("client_package", ["celery", "celeriac"])
def test_interop_results_through_redis(
    client_package: str, make_module: Callable[..., str], workdir: Path
) -> None:
    require_suite_redis()
    queue = unique_name(f"redis_{client_package}")
    client_module = make_module(client_package, REDIS_RESULTS, queue)
    worker_module = make_module(_other(client_package), REDIS_RESULTS, queue)
    client: Any = import_app_module(workdir, client_module)
    try:
        with _worker_for(_other(client_package))(workdir, worker_module, queue):
            _exercise(client, forget=True)
    finally:
        client.app.close()


@pytest.mark.parametrize("client_package", ["celery", "celeriac"])
def test_interop_priorities(
    client_package: str, make_module: Callable[..., str], workdir: Path
) -> None:
    """Sent while no worker runs, into an ``x-max-priority`` queue: the highest runs first."""
    queue = unique_name(f"prio_{client_package}")
    client: Any = import_app_module(workdir, make_module(client_package, "rpc://", queue))
    worker_module = make_module(_other(client_package), "rpc://", queue)
    path = workdir / f"{queue}.txt"
    try:
        for value in (1, 5, 9, 3, 7, 0):
            client.log.apply_async((str(path), value), priority=value, ignore_result=True)
        with _worker_for(_other(client_package))(workdir, worker_module, queue, "-c", "1"):
            wait_until(lambda: len(_lines(path)) == 6, TIMEOUT, message="six priority tasks")
    finally:
        client.app.close()
    assert _lines(path) == ["9", "7", "5", "3", "1", "0"]


# -- outages --------------------------------------------------------------------------------------
def test_dropped_connections_lose_no_confirmed_task(
    vhost: Vhost, make_module: Callable[..., str], workdir: Path
) -> None:
    """``close_all_connections`` mid-stream: client and worker reconnect; every confirmed task
    runs (at least once), and the worker goes on consuming."""
    queue = unique_name("drop")
    module = make_module("celeriac", "", queue)
    client: Any = import_app_module(workdir, module)
    path = workdir / f"{queue}.txt"
    confirmed: list[str] = []
    try:
        with celeriac_worker(workdir, module, queue) as worker:
            for n in range(300):
                if n == 100:
                    wait_until(lambda: len(_lines(path)) >= 20, TIMEOUT,
                               message="the worker consuming")  # fmt: skip
                    vhost.close_connections()
                client.log.apply_async((str(path), n), ignore_result=True)
                confirmed.append(str(n))  # delay() returned: RabbitMQ confirmed it
            wait_until(lambda: set(confirmed) <= set(_lines(path)), 60,
                       message="every confirmed task to run")  # fmt: skip
            client.log.apply_async((str(path), "after"), ignore_result=True)
            wait_until(lambda: "after" in _lines(path), TIMEOUT, message="a task after")
            assert worker.process.poll() is None
            assert "re-established" in worker.log() or "reconnect" in worker.log()
    finally:
        client.app.close()


def test_far_eta_survives_a_short_consumer_timeout(
    vhost: Vhost, make_module: Callable[..., str], workdir: Path
) -> None:
    """With ``consumer_timeout`` at 2 s (checked every 1 s), a task due in 5 s runs once, at its
    time, and RabbitMQ never closes the worker's channel for it (the ETA waits in delay buckets,
    not unacked).

    RabbitMQ reads ``consumer_timeout`` when a channel opens, so the worker starts (and consumes)
    inside the short-timeout window; a control opened in the same window holds a delivery and
    is closed for it, which proves the timeout applied. The window closes as soon as both are
    open: ``consumer_timeout`` is broker-wide.
    """
    queue = unique_name("eta")
    module = make_module("celeriac", "rpc://", queue)
    client: Any = import_app_module(workdir, module)
    try:
        with short_consumer_timeout(2000, 1000) as close_window:
            control = HeldDelivery(vhost.url, unique_name("held"))
            try:
                with celeriac_worker(workdir, module, queue) as worker:
                    assert client.add.delay(1, 1).get(timeout=TIMEOUT) == 2  # worker consuming
                    close_window()
                    sent = time.time()
                    far = client.stamp.apply_async(countdown=5)
                    ran_at = far.get(timeout=TIMEOUT)
                    assert ran_at >= sent + 5 - 0.05
                    log = worker.log()
                    assert log.count(far.id) >= 1 and "consumer connection lost" not in log
                    assert "PRECONDITION_FAILED" not in log
                assert control.closed_by_broker()
            finally:
                control.close()
    finally:
        client.app.close()
