"""The first-steps app: the same code as Celery's tutorial, with one import changed."""

from __future__ import annotations

from celeriac import Celery

app = Celery("tasks")  # no broker named: the embedded SQLite default (celeriac.db here)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def fail(message: str) -> None:
    raise ValueError(message)
