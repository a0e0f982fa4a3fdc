"""task_inherit_parent_priority: a task sent from a task takes the parent's priority."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.worker.worker import Worker, WorkerOptions


def _child_priority(tmp_path: Path, **settings: Any) -> Any:
    app = Celery("prio", broker=f"sqlite:///{tmp_path / 'broker.db'}",
                 backend=f"db+sqlite:///{tmp_path / 'broker.db'}", **settings)

    @app.task(name="proj.child", bind=True)
    def child(self: Any) -> Any:
        return self.request.delivery_info.get("priority")

    @app.task(name="proj.parent")
    def parent() -> str:
        return str(child.delay().id)

    worker = Worker(app, WorkerOptions(pool="threads", concurrency=2))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        child_id = parent.apply_async(priority=7).get(timeout=10)
        return app.AsyncResult(child_id).get(timeout=10)
    finally:
        worker.stop()
        thread.join(30)


@pytest.mark.parametrize(("inherit", "expected"), [(True, 7), (False, 0)])
def test_a_child_task_inherits_the_parent_priority_only_when_asked(
        tmp_path: Path, inherit: bool, expected: int) -> None:
    assert _child_priority(tmp_path, task_inherit_parent_priority=inherit) == expected
