"""Issue 11, defect 5: ``rpc://`` carries every record of a task, not only its final state.

``update_state`` progress, STARTED (``track_started``) and the failure a chain stores for its
later steps reach the client that sent the task, through its reply queue. Real RabbitMQ, in a
vhost of its own; an in-process worker (threads pool) shares the app with the client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.canvas import chain
from celeriac.worker.worker import Worker, WorkerOptions
from tests.helpers import wait_until
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = pytest.mark.amqp

RELEASE: dict[str, threading.Event] = {}


@pytest.fixture
def app() -> Iterator[Celery]:
    with rabbitmq_vhost("rpcrec") as vhost:
        yield _app(vhost)


def _app(vhost: Vhost) -> Celery:
    app = Celery("rpcrec", broker=vhost.url, backend="rpc://", set_as_current=False)

    @app.task(bind=True, name="r.progress")
    def progress(self: Task, key: str) -> str:  # type: ignore[type-arg]
        self.update_state(state="PROGRESS", meta={"done": 1, "of": 2})
        RELEASE[key].wait(30)
        return "finished"

    @app.task(name="r.slow", track_started=True)
    def slow(key: str) -> str:
        RELEASE[key].wait(30)
        return "finished"

    @app.task(name="r.boom")
    def boom(*args: Any) -> None:
        raise ValueError("boom in the first step")

    @app.task(name="r.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app


@pytest.fixture
def worker(app: Celery) -> Iterator[Worker]:
    worker = Worker(app, WorkerOptions(pool="threads", concurrency=2, prefetch_multiplier=1))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        yield worker
    finally:
        for event in RELEASE.values():
            event.set()
        worker.stop()
        thread.join(30)


def _release(key: str) -> threading.Event:
    RELEASE[key] = threading.Event()
    return RELEASE[key]


def test_update_state_progress_reaches_the_client(app: Celery, worker: Worker) -> None:
    release = _release("progress")
    result = app.send_task("r.progress", ("progress",))
    wait_until(lambda: result.state == "PROGRESS", timeout=20, message="PROGRESS over rpc://")
    assert result.info == {"done": 1, "of": 2}
    release.set()
    assert result.get(timeout=20) == "finished"


def test_started_reaches_the_client_with_track_started(app: Celery, worker: Worker) -> None:
    release = _release("slow")
    result = app.send_task("r.slow", ("slow",))
    wait_until(lambda: result.state == "STARTED", timeout=20, message="STARTED over rpc://")
    release.set()
    assert result.get(timeout=20) == "finished"


def test_a_chain_failure_reaches_the_chains_result(app: Celery, worker: Worker) -> None:
    boom, add = app.tasks["r.boom"], app.tasks["r.add"]
    result = chain(boom.s(), add.s(1), add.s(2)).delay()
    with pytest.raises(ValueError, match="boom in the first step"):
        result.get(timeout=20)
    assert result.state == "FAILURE"
