"""Worker-level interop with real Celery 5.7 over Redis (broker db 5, results db 6).

(a) A real Celery client sends to a ``celeriac worker`` subprocess and reads results with
    Celery's own ``AsyncResult``.
(b) A celeriac client sends to a real ``celery worker`` subprocess and reads results with
    celeriac's ``AsyncResult``.

Each side's tasks live in a tmp module with the SAME explicit task names, so either module can
be the worker while the other is the client. Each direction uses its own queue (``-Q``), so the
two long-running workers never take each other's messages. For every direction: ``delay``,
``send_task`` by name, a failure seen with its exception type, ``countdown``, msgpack + zlib,
and priorities (published while no worker runs, then executed lowest number first).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.celery_worker import WAKEUP
from tests.integration.celery_worker import celery_worker as running_celery_worker
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")
pytest.importorskip("msgpack")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(5)
RESULTS = suite_redis_url(6)
TO_CELERIAC = "interop.to_celeriac"
TO_CELERY = "interop.to_celery"

TASKS_SOURCE = """
import time
{import_line}

app = Celery("{name}", broker="{broker}", backend="{results}")
app.conf.accept_content = ["json", "msgpack"]
app.conf.broker_connection_retry_on_startup = True


@app.task(name="interop.add")
def add(x, y):
    return x + y


@app.task(name="interop.boom")
def boom(message):
    raise ValueError(message)


@app.task(name="interop.stamp")
def stamp():
    return time.time()


@app.task(name="interop.record")
def record(path, label):
    with open(path, "a") as fh:
        fh.write(label + "\\n")
    return label
"""


def _write_side(directory: Path, flavour: str) -> str:
    name = unique_name(f"interop_{flavour}")
    import_line = f"from {flavour} import Celery"
    source = TASKS_SOURCE.format(import_line=import_line, name=name, broker=BROKER,
                                 results=RESULTS)
    (directory / f"{name}.py").write_text(source + (WAKEUP if flavour == "celery" else ""))
    return name


@pytest.fixture(scope="module")
def dbs() -> Iterator[None]:
    with flushed_redis(BROKER), flushed_redis(RESULTS):
        yield


@pytest.fixture(scope="module")
def sides(dbs: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The folder holding both task modules, and the celeriac and Celery module names."""
    directory = tmp_path_factory.mktemp("interop")
    return directory, _write_side(directory, "celeriac"), _write_side(directory, "celery")


@contextmanager
def logs_on_failure(*workers: WorkerProcess) -> Iterator[None]:
    """Print the workers' logs when the block fails (fixtures do not see test failures)."""
    try:
        yield
    except BaseException:
        for worker in workers:
            sys.stderr.write(f"\n---- {worker.log_path.name} ----\n{worker.log()}\n")
        raise


@pytest.fixture(scope="module")
def celeriac_worker(sides: tuple[Path, str, str]) -> Iterator[WorkerProcess]:
    directory, celeriac_side, _ = sides
    with running_worker(
        directory,
        "-A",
        celeriac_side,
        "worker",
        "-P",
        "solo",
        "-Q",
        TO_CELERIAC,
        "-n",
        "celeriac-interop@%h",
        "-l",
        "info",
        name="celeriac-worker",
    ) as worker:
        yield worker


@pytest.fixture(scope="module")
def celery_worker(sides: tuple[Path, str, str]) -> Iterator[WorkerProcess]:
    directory, _, celery_side = sides
    with running_celery_worker(directory, celery_side, TO_CELERY, name="celery-worker") as worker:
        yield worker


@pytest.fixture(scope="module")
def celery_client(sides: tuple[Path, str, str]) -> Iterator[Any]:
    """The Celery-side module imported here: a real Celery client aimed at the celeriac worker."""
    directory, _, celery_side = sides
    module: Any = import_app_module(directory, celery_side)
    module.app.conf.task_default_queue = TO_CELERIAC
    yield module
    close_celery_app(module.app)


@pytest.fixture(scope="module")
def celeriac_client(sides: tuple[Path, str, str]) -> Iterator[Any]:
    """The celeriac-side module imported here: a celeriac client aimed at the Celery worker."""
    directory, celeriac_side, _ = sides
    module: Any = import_app_module(directory, celeriac_side)
    module.app.conf.task_default_queue = TO_CELERY
    yield module
    module.app.close()


def _bucket(priority: int) -> int:
    """kombu's Redis priority step for ``priority`` with the default steps [0, 3, 6, 9]."""
    return max(step for step in (0, 3, 6, 9) if step <= priority)


PRIORITIES = [9, 6, 3, 0, 9, 1, 5]
#: Served by bucket (0 first), FIFO within a bucket.
EXPECTED_ORDER = [
    f"{p}:{i}"
    for i, p in sorted(enumerate(PRIORITIES), key=lambda item: (_bucket(item[1]), item[0]))
]


def _recorded(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# -- (a) a real Celery client, a celeriac worker ------------------------------------------------
def test_celery_client_delay_and_send_task(
    celery_client: Any, celeriac_worker: WorkerProcess
) -> None:
    with logs_on_failure(celeriac_worker):
        result = celery_client.add.delay(2, 3)
        assert isinstance(result, celery.result.AsyncResult)
        assert result.get(timeout=30) == 5
        assert result.state == "SUCCESS"
        by_name = celery_client.app.send_task("interop.add", (40, 2), queue=TO_CELERIAC)
        assert by_name.get(timeout=30) == 42


def test_celery_client_sees_failure_with_its_type(
    celery_client: Any, celeriac_worker: WorkerProcess
) -> None:
    with logs_on_failure(celeriac_worker):
        result = celery_client.boom.delay("bad input")
        with pytest.raises(ValueError, match="bad input"):
            result.get(timeout=30)
        assert result.state == "FAILURE"
        assert isinstance(result.result, ValueError)
        assert "ValueError" in (result.traceback or "")


def test_celery_client_countdown(celery_client: Any, celeriac_worker: WorkerProcess) -> None:
    with logs_on_failure(celeriac_worker):
        sent = time.time()
        ran = celery_client.stamp.apply_async(countdown=2).get(timeout=15)
        assert sent + 2 - 0.05 <= ran <= sent + 2 + 1.5


def test_celery_client_msgpack_zlib(celery_client: Any, celeriac_worker: WorkerProcess) -> None:
    with logs_on_failure(celeriac_worker):
        result = celery_client.add.apply_async(
            (6,), {"y": 7}, serializer="msgpack", compression="zlib"
        )
        assert result.get(timeout=30) == 13


def test_celery_client_priorities(celery_client: Any, sides: tuple[Path, str, str]) -> None:
    directory, celeriac_side, _ = sides
    queue, path = "interop.prio_celeriac", directory / "prio_celeriac.txt"
    for i, priority in enumerate(PRIORITIES):
        celery_client.record.apply_async(
            (str(path), f"{priority}:{i}"), priority=priority, queue=queue
        )
    with (
        running_worker(
            directory,
            "-A",
            celeriac_side,
            "worker",
            "-P",
            "solo",
            "-Q",
            queue,
            name="celeriac-prio",
        ) as worker,
        logs_on_failure(worker),
    ):
        wait_until(
            lambda: len(_recorded(path)) == len(PRIORITIES),
            30,
            message="every prioritized task to run",
        )
    assert _recorded(path) == EXPECTED_ORDER


# -- (b) a celeriac client, a real Celery worker ------------------------------------------------
def test_celeriac_client_delay_and_send_task(
    celeriac_client: Any, celery_worker: WorkerProcess
) -> None:
    with logs_on_failure(celery_worker):
        result = celeriac_client.add.delay(2, 3)
        assert result.get(timeout=30) == 5
        assert result.state == "SUCCESS"
        by_name = celeriac_client.app.send_task("interop.add", (40, 2), queue=TO_CELERY)
        assert by_name.get(timeout=30) == 42


def test_celeriac_client_sees_failure_with_its_type(
    celeriac_client: Any, celery_worker: WorkerProcess
) -> None:
    with logs_on_failure(celery_worker):
        result = celeriac_client.boom.delay("bad input")
        with pytest.raises(ValueError, match="bad input"):
            result.get(timeout=30)
        assert result.state == "FAILURE"
        assert "ValueError" in (result.traceback or "")


def test_celeriac_client_countdown(celeriac_client: Any, celery_worker: WorkerProcess) -> None:
    """A Celery worker must see (and hold) a celeriac client's countdown task: Celery has no
    notion of celeriac's delayed zset, so the message has to be on the queue's list."""
    with logs_on_failure(celery_worker):
        sent = time.time()
        ran = celeriac_client.stamp.apply_async(countdown=2).get(timeout=15)
        assert sent + 2 - 0.05 <= ran <= sent + 2 + 1.5


def test_celeriac_client_msgpack_zlib(celeriac_client: Any, celery_worker: WorkerProcess) -> None:
    with logs_on_failure(celery_worker):
        result = celeriac_client.add.apply_async(
            (6,), {"y": 7}, serializer="msgpack", compression="zlib"
        )
        assert result.get(timeout=30) == 13


def test_celeriac_client_priorities(celeriac_client: Any, sides: tuple[Path, str, str]) -> None:
    directory, _, celery_side = sides
    queue, path = "interop.prio_celery", directory / "prio_celery.txt"
    for i, priority in enumerate(PRIORITIES):
        celeriac_client.record.apply_async(
            (str(path), f"{priority}:{i}"), priority=priority, queue=queue
        )
    with (
        running_celery_worker(directory, celery_side, queue, name="celery-prio") as worker,
        logs_on_failure(worker),
    ):
        wait_until(
            lambda: len(_recorded(path)) == len(PRIORITIES),
            60,
            message="every prioritized task to run",
        )
    assert _recorded(path) == EXPECTED_ORDER
