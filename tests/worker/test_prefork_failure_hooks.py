"""A prefork task that cannot announce its own failure (killed at its hard time limit) has
its errbacks, ``on_failure`` and ``task_failure`` run by the worker, as Celery's parent does,
but on the consumer's side: never on the supervisor thread that enforces the time limits,
where a slow or stuck handler would delay every other child's hard limit."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, Task, signals
from celeriac.exceptions import TimeLimitExceeded
from tests.helpers import in_process_worker, wait_until

SUPERVISOR = "celeriac-prefork-supervisor"

#: (what ran, exception type name, thread name), appended in the worker's own process.
ran: list[tuple[str, str, str]] = []


def record(what: str, exc: BaseException) -> None:
    ran.append((what, type(exc).__name__, threading.current_thread().name))


class Recording(Task):  # type: ignore[type-arg]
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        record("on_failure", exc)


@pytest.fixture
def app() -> Iterator[Celery]:
    name = uuid.uuid4().hex
    app = Celery("hooks", broker=f"memory://{name}", backend=f"cache+memory://{name}")

    @app.task(name="hooks.slow", base=Recording, time_limit=0.3)
    def slow() -> None:
        time.sleep(10)

    @app.task(name="hooks.errback")
    def errback(request: Any, exc: BaseException, traceback: Any) -> None:  # runs in-process
        record("errback", exc)

    def on_task_failure(exception: BaseException, **_: Any) -> None:
        record("task_failure", exception)

    ran.clear()
    signals.task_failure.connect(on_task_failure, weak=False)
    try:
        yield app
    finally:
        signals.task_failure.disconnect(on_task_failure)
        app.close()


def test_hard_time_limit_hooks_run_on_the_consumer_side(app: Celery) -> None:
    with in_process_worker(app, pool="prefork", concurrency=1, hostname="hooks@test"):
        result = app.tasks["hooks.slow"].apply_async(
            link_error=app.signature("hooks.errback"))
        with pytest.raises(TimeLimitExceeded):
            result.get(timeout=30)
        wait_until(lambda: len(ran) == 3, 10, message="errback, on_failure and task_failure")
    assert sorted(what for what, _, _ in ran) == ["errback", "on_failure", "task_failure"]
    assert {exc for _, exc, _ in ran} == {"TimeLimitExceeded"}
    threads = {thread for _, _, thread in ran}
    assert SUPERVISOR not in threads
    assert threads == {"celeriac-consumer"}
