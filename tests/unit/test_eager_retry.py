"""``self.retry()`` under ``apply()`` / ``task_always_eager`` runs again here, as in Celery:
nothing is sent to the broker (a test suite in eager mode has no worker to run it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.exceptions import MaxRetriesExceededError, Retry

CALLS: list[tuple[str, int, tuple[Any, ...]]] = []


@pytest.fixture
def app() -> Celery:
    app = Celery("eagerretry", broker=f"memory://{uuid.uuid4().hex}", set_as_current=False,
                 task_always_eager=True)

    @app.task(bind=True, name="er.flaky", max_retries=3)
    def flaky(self: Task, key: str, succeed_on: int) -> int:  # type: ignore[type-arg]
        CALLS.append((key, self.request.retries, tuple(self.request.args)))
        if self.request.retries < succeed_on:
            raise self.retry(countdown=60)
        return self.request.retries

    return app


def test_retry_reruns_in_process_with_retries_counted(app: Celery) -> None:
    result = app.tasks["er.flaky"].delay("ok", 2)
    assert (result.get(), result.state) == (2, "SUCCESS")
    assert [c for c in CALLS if c[0] == "ok"] == [("ok", 0, ("ok", 2)), ("ok", 1, ("ok", 2)),
                                                 ("ok", 2, ("ok", 2))]
    assert app.transport.channel().size("celery") == 0  # nothing was sent


def test_retry_past_max_retries_fails(app: Celery) -> None:
    result = app.tasks["er.flaky"].delay("never", 10)
    assert result.state == "FAILURE"
    with pytest.raises(MaxRetriesExceededError):
        result.get()
    assert len([c for c in CALLS if c[0] == "never"]) == 4


def test_retry_propagates_with_task_eager_propagates(app: Celery) -> None:
    """Celery's eager tracer raises at once when propagating: the retry is not run."""
    app.conf.task_eager_propagates = True
    with pytest.raises(Retry):
        app.tasks["er.flaky"].delay("propagated", 1)
    assert [c[1] for c in CALLS if c[0] == "propagated"] == [0]
