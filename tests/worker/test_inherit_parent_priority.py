"""task_inherit_parent_priority: a task sent from a task takes the parent's priority."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from tests.helpers import in_process_worker


def _child_priority(tmp_path: Path, **settings: Any) -> Any:
    app = Celery("prio", broker=f"sqlite:///{tmp_path / 'broker.db'}",
                 backend=f"sqlite:///{tmp_path / 'broker.db'}", **settings)

    @app.task(name="proj.child", bind=True)
    def child(self: Any) -> Any:
        return self.request.delivery_info.get("priority")

    @app.task(name="proj.parent")
    def parent() -> str:
        return str(child.delay().id)

    with in_process_worker(app, pool="threads", concurrency=2):
        child_id = parent.apply_async(priority=7).get(timeout=10)
        return app.AsyncResult(child_id).get(timeout=10)


@pytest.mark.parametrize(("inherit", "expected"), [(True, 7), (False, 0)])
def test_a_child_task_inherits_the_parent_priority_only_when_asked(
        tmp_path: Path, inherit: bool, expected: int) -> None:
    assert _child_priority(tmp_path, task_inherit_parent_priority=inherit) == expected
