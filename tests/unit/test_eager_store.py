"""``task_store_eager_result``: eager outcomes land in the result store (Celery 5.1+)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery


def make_app(tmp_path: Path, **settings: Any) -> Celery:
    app = Celery("eager", broker=f"memory://{uuid.uuid4().hex}",
                 backend=f"sqlite:///{tmp_path / 'results.db'}", set_as_current=False,
                 **settings)

    @app.task(name="e.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="e.boom")
    def boom() -> None:
        raise KeyError("eager boom")

    @app.task(name="e.quiet", ignore_result=True)
    def quiet() -> int:
        return 1

    return app


def test_eager_results_are_stored_when_asked(tmp_path: Path) -> None:
    app = make_app(tmp_path, task_always_eager=True, task_store_eager_result=True)
    sent = app.tasks["e.add"].delay(2, 3)
    stored = app.AsyncResult(sent.id)
    assert (stored.state, stored.get(timeout=5)) == ("SUCCESS", 5)
    failed = app.tasks["e.boom"].apply()
    record = app.backend.get(failed.id)
    assert record.status == "FAILURE" and "eager boom" in str(record.result)
    assert record.traceback and "KeyError" in record.traceback
    with pytest.raises(KeyError):
        app.AsyncResult(failed.id).get(timeout=5)
    assert app.backend.get(app.tasks["e.quiet"].apply().id).status == "PENDING"


def test_the_task_option_overrides_the_setting(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    add = app.tasks["e.add"]
    assert app.backend.get(add.apply((1, 1)).id).status == "PENDING"  # the default: not stored
    type(add).store_eager_result = True
    assert app.backend.get(add.apply((1, 1)).id).result == 2
