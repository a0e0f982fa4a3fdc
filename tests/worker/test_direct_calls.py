"""Issue 11, defect 4: a task called directly inside another one gets a request of its own,
and a custom ``Task.__call__`` (Flask's app-context pattern) runs in the worker and in eager mode.

An in-process worker on ``memory://`` (solo and threads pools), as a user's project would run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker

#: What a Flask-style ``ContextTask`` makes available while a task runs ("the app context").
APP_CONTEXT: ContextVar[str | None] = ContextVar("APP_CONTEXT", default=None)


class ContextTask(Task):  # type: ignore[type-arg]
    """Flask's documented pattern: every call of the task runs inside an app context."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = APP_CONTEXT.set("flask-app")
        try:
            return self.run(*args, **kwargs)
        finally:
            APP_CONTEXT.reset(token)


class SuperCallTask(Task):  # type: ignore[type-arg]
    """A custom ``__call__`` that delegates to ``super().__call__`` (common in projects)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = APP_CONTEXT.set("via-super")
        try:
            return super().__call__(*args, **kwargs)
        finally:
            APP_CONTEXT.reset(token)


def new_app(**kwargs: Any) -> Celery:
    name = uuid.uuid4().hex
    return Celery("direct", broker=f"memory://{name}", backend=f"cache+memory://{name}",
                  set_as_current=False, **kwargs)


@contextmanager
def running(app: Celery, pool: str = "threads") -> Iterator[Worker]:
    with in_process_worker(app, pool=pool, concurrency=1 if pool == "solo" else 2) as worker:
        yield worker


def describe(request: Any) -> dict[str, Any]:
    return {"id": request.id, "task": request.task, "args": list(request.args),
            "called_directly": request.called_directly}


@pytest.fixture
def app() -> Celery:
    app = new_app()

    @app.task(bind=True, name="proj.inner")
    def inner(self: Task, x: int, y: int) -> dict[str, Any]:  # type: ignore[type-arg]
        return describe(self.request)

    @app.task(bind=True, name="proj.outer")
    def outer(self: Task, a: int) -> dict[str, Any]:  # type: ignore[type-arg]
        seen = inner(1, 2)
        return {"inner": seen, "outer_after": describe(self.request)}

    @app.task(bind=True, name="proj.flaky")
    def flaky(self: Task) -> None:  # type: ignore[type-arg]
        raise self.retry(exc=KeyError("flaky failed"), countdown=0)

    @app.task(bind=True, name="proj.calls_flaky")
    def calls_flaky(self: Task) -> str:  # type: ignore[type-arg]
        try:
            flaky()
        except KeyError as exc:
            return f"caught {exc.args[0]}"
        return "not raised"

    return app


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_a_direct_call_inside_a_task_sees_its_own_request(app: Celery, pool: str) -> None:
    with running(app, pool):
        result = app.send_task("proj.outer", (7,))
        value = result.get(timeout=10)
    assert value["inner"] == {"id": None, "task": "proj.inner", "args": [1, 2],
                              "called_directly": True}
    assert value["outer_after"] == {"id": result.id, "task": "proj.outer", "args": [7],
                                    "called_directly": False}


def test_retry_in_a_directly_called_task_raises_instead_of_resending_the_outer_task(
    app: Celery,
) -> None:
    with running(app, "solo"):
        result = app.send_task("proj.calls_flaky")
        assert result.get(timeout=10) == "caught flaky failed"
        assert result.state == "SUCCESS"


def test_retry_in_a_direct_call_outside_a_worker_raises_the_exception(app: Celery) -> None:
    with pytest.raises(KeyError, match="flaky failed"):
        app.tasks["proj.flaky"]()


@pytest.mark.parametrize("pattern", ["task_cls", "app.Task"])
def test_the_worker_runs_a_custom_call(pattern: str) -> None:
    """Both of Flask's spellings: ``Celery(task_cls=ContextTask)`` and ``app.Task = ...``."""
    if pattern == "task_cls":
        app = new_app(task_cls=ContextTask)
    else:  # Flask's older docs: ``class ContextTask(celery.Task)`` then ``celery.Task = ...``
        app = new_app()
        app.Task = type("ContextTask", (app.Task,), {"__call__": ContextTask.__call__})

    @app.task(bind=True, name="proj.in_context")
    def in_context(self: Task) -> list[Any]:  # type: ignore[type-arg]
        return [APP_CONTEXT.get(), self.request.id]

    with running(app, "solo"):
        result = app.send_task("proj.in_context")
        assert result.get(timeout=10) == ["flask-app", result.id]
    assert in_context.apply(task_id="eager-id").get() == ["flask-app", "eager-id"]


def test_a_custom_call_through_super_keeps_the_worker_request() -> None:
    app = new_app(task_cls=SuperCallTask)

    @app.task(bind=True, name="proj.inner_plain")
    def inner_plain(self: Task) -> Any:  # type: ignore[type-arg]
        return self.request.id

    @app.task(bind=True, name="proj.via_super")
    def via_super(self: Task) -> list[Any]:  # type: ignore[type-arg]
        return [APP_CONTEXT.get(), self.request.id, self.request.called_directly,
                inner_plain()]

    with running(app, "threads"):
        result = app.send_task("proj.via_super")
        assert result.get(timeout=10) == ["via-super", result.id, False, None]
    eager = via_super.apply(task_id="eager-id")
    assert eager.get() == ["via-super", "eager-id", False, None]
