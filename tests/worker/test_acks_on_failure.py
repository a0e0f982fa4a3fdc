"""task_acks_on_failure (Celery 5.7) decides what happens to a failed late-acked message,
before the deprecated task_acks_on_failure_or_timeout; in-process worker, SQLite broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from tests.helpers import in_process_worker


def _failed_message_set_aside(tmp_path: Path, **settings: Any) -> bool:
    app = Celery("acks", broker=f"sqlite:///{tmp_path / 'broker.db'}",
                 backend=f"sqlite:///{tmp_path / 'broker.db'}", **settings)

    @app.task(name="proj.fail", acks_late=True)
    def fail() -> None:
        raise ValueError("boom")

    with in_process_worker(app, pool="threads", concurrency=1):
        result = app.send_task("proj.fail")
        with pytest.raises(ValueError, match="boom"):
            result.get(timeout=10)
    channel = app.transport.channel()
    try:
        letters = list(channel.dead_letters())
    finally:
        channel.close()
    return any(result.id in letter.payload.decode(errors="replace") for letter in letters)


@pytest.mark.parametrize(("settings", "set_aside"), [
    ({}, False),
    ({"task_acks_on_failure": False}, True),
    ({"task_acks_on_failure_or_timeout": False}, True),
    ({"task_acks_on_failure_or_timeout": False, "task_acks_on_failure": True}, False),
])
def test_task_acks_on_failure_wins_over_the_deprecated_setting(
        tmp_path: Path, settings: dict[str, Any], set_aside: bool) -> None:
    assert _failed_message_set_aside(tmp_path, **settings) is set_aside
