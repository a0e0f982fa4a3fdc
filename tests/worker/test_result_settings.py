"""Result settings a worker acts on, end to end on a real SQLite result store: the worker
in-process on ``memory://``, results in a SQLite file."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends.record_codec import COMPRESSED_MAGIC, content_type_of
from tests.helpers import in_process_worker

AppFactory = Callable[..., Celery]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """``make_app(**settings)``: an app with tasks and a running worker, results in SQLite."""
    workers = contextlib.ExitStack()

    def make(**settings: Any) -> Celery:
        name = uuid.uuid4().hex
        app = Celery("results", broker=f"memory://{name}",
                     backend=f"sqlite:///{tmp_path / 'results.db'}", **settings)

        @app.task(name="proj.add")
        def add(x: int, y: int = 0) -> int:
            return x + y

        workers.enter_context(
            in_process_worker(app, pool="threads", concurrency=2, hostname="w1@test"))
        return app

    with workers:
        yield make


def _stored_bytes(app: Celery, task_id: str) -> bytes:
    path = app.conf.result_backend.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM results WHERE key = ?",
                           (f"celery-task-meta-{task_id}",)).fetchone()
    return bytes(row[0])


def test_result_extended_stores_and_reads_back_the_request(make_app: AppFactory) -> None:
    app = make_app(result_extended=True)
    result = app.tasks["proj.add"].apply_async((2,), {"y": 3}, queue="celery")
    assert result.get(timeout=10) == 5
    fresh = app.AsyncResult(result.id)  # reads the store, not the client's cache
    assert (fresh.name, fresh.args, fresh.kwargs) == ("proj.add", [2], {"y": 3})
    assert (fresh.worker, fresh.retries, fresh.queue) == ("w1@test", 0, "celery")


def test_without_result_extended_the_request_is_not_stored(make_app: AppFactory) -> None:
    app = make_app()
    result = app.send_task("proj.add", (2, 3))
    assert result.get(timeout=10) == 5
    fresh = app.AsyncResult(result.id)
    assert (fresh.args, fresh.kwargs, fresh.worker, fresh.queue) == (None, None, None, None)


@pytest.mark.parametrize("serializer", ["msgpack", "yaml"])
def test_results_are_stored_with_result_serializer(make_app: AppFactory,
                                                   serializer: str) -> None:
    app = make_app(result_serializer=serializer)
    result = app.send_task("proj.add", (2, 3))
    assert result.get(timeout=10) == 5
    assert content_type_of(_stored_bytes(app, result.id)).endswith(serializer)


def test_pickle_results_are_opt_in_through_result_accept_content(make_app: AppFactory) -> None:
    app = make_app(result_serializer="pickle", result_accept_content=["json", "pickle"])
    result = app.send_task("proj.add", (2, 3))
    assert result.get(timeout=10) == 5
    assert content_type_of(_stored_bytes(app, result.id)) == "application/x-python-serialize"


def test_results_are_compressed_with_result_compression(make_app: AppFactory) -> None:
    app = make_app(result_compression="gzip")
    result = app.send_task("proj.add", (2, 3))
    assert result.get(timeout=10) == 5
    assert _stored_bytes(app, result.id).startswith(COMPRESSED_MAGIC + b"application/x-gzip")


def test_the_worker_honours_task_annotations(make_app: AppFactory) -> None:
    seen: list[Any] = []

    def around(on_success: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, retval: Any, *args: Any) -> Any:
            seen.append((self.name, retval, self.rate_limit))
            return on_success(self, retval, *args)
        return wrapper

    app = make_app(task_annotations=[{"proj.add": {"@on_success": around}},
                                     {"*": {"rate_limit": "1000/s"}}])
    assert app.send_task("proj.add", (2, 3)).get(timeout=10) == 5
    assert seen == [("proj.add", 5, "1000/s")]
