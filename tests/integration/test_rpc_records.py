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
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker, wait_until
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = pytest.mark.amqp

RELEASE: dict[str, threading.Event] = {}


@pytest.fixture
def app() -> Iterator[Celery]:
    with rabbitmq_vhost("rpcrec") as vhost:
        yield _app(vhost)


class _LateRetryRecord(Task):  # type: ignore[type-arg]
    """Sends the old attempt's RETRY only once the client holds the new attempt's outcome:
    the order a descheduled pool thread produces by chance, made certain."""

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                 einfo: Any) -> None:
        wait_until(lambda: self.app.backend.get(task_id).ready, timeout=20)


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

    @app.task(bind=True, name="r.retry_then_fail", base=_LateRetryRecord)
    def retry_then_fail(self: Task) -> None:  # type: ignore[type-arg]
        if self.request.retries < 1:
            self.retry(countdown=0)
        raise ValueError("the last attempt failed")

    return app


@pytest.fixture
def worker(app: Celery) -> Iterator[Worker]:
    with in_process_worker(app, pool="threads", concurrency=2, prefetch_multiplier=1) as worker:
        try:
            yield worker
        finally:  # release held tasks before the worker is stopped
            for event in RELEASE.values():
                event.set()


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


def test_an_old_attempts_late_retry_does_not_hide_the_outcome(app: Celery,
                                                               worker: Worker) -> None:
    result = app.tasks["r.retry_then_fail"].delay()
    with pytest.raises(ValueError, match="the last attempt failed"):
        result.get(timeout=20)
    consumer = worker.consumer
    assert consumer is not None
    wait_until(lambda: consumer.total_processed == 2 and not consumer.active, timeout=20,
               message="both attempts settled")
    # Replies reach the queue in order: once this one is read, the old attempt's RETRY is too.
    assert app.tasks["r.add"].delay(1, 2).get(timeout=20) == 3
    assert app.backend.get(result.id).status == "FAILURE"  # not the result's cached copy
