"""A real Celery 5.7 client changes a running ``celeriac worker`` (Redis db 15): its own
``control.pool_grow``, ``pool_shrink``, ``autoscale``, ``pool_restart``, ``add_consumer`` and
``cancel_consumer`` get Celery's replies, and its ``inspect`` sees the changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    close_celery_app,
    flushed_redis,
    running_worker,
    unique_name,
    wait_until,
    write_module,
)
from tests.integration.promises_fixtures import wait_ready
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.redis]
BROKER = suite_redis_url(15)


@pytest.fixture
def celery_client() -> Iterator[Any]:
    with flushed_redis(BROKER):
        app = celery.Celery("pool_control_client", broker=BROKER)
        yield app
        close_celery_app(app)


def _answer(replies: Any, node: str) -> Any:
    """``node``'s answer in a broadcast's reply list or an ``inspect`` dict."""
    if isinstance(replies, dict):
        replies = [replies]
    answers = [reply[node] for reply in replies or [] if node in reply]
    assert answers, f"no reply from {node}: {replies}"
    return answers[0]


def test_celery_client_resizes_and_rewires_a_celeriac_worker(celery_client: Any,
                                                              tmp_path: Path) -> None:
    name = unique_name("poolctl")
    write_module(tmp_path, name, f"""
        from celeriac import Celery
        app = Celery("{name}", broker="{BROKER}")
    """)
    node = f"{name}@test"
    control = celery_client.control
    with running_worker(tmp_path, "-A", name, "worker", "-P", "prefork", "-c", "1",
                        "-n", node, "-l", "info") as worker:
        wait_ready(worker)
        target = {"destination": [node], "reply": True, "timeout": 5}
        assert _answer(control.pool_grow(2, **target), node) == {"ok": "pool will grow"}

        def children() -> int:
            return len(_answer(control.inspect([node], timeout=5).stats(), node)
                       ["pool"]["processes"])

        wait_until(lambda: children() == 3, 30, message="three children")
        assert _answer(control.pool_shrink(2, **target), node) == {"ok": "pool will shrink"}
        wait_until(lambda: children() == 1, 30, message="one child")
        assert _answer(control.autoscale(4, 1, **target), node) == {
            "error": "ValueError('Autoscale not enabled')"}
        assert _answer(control.pool_restart(**target), node) == {
            "error": "ValueError('Pool restarts not enabled')"}
        assert _answer(control.add_consumer("extra", **target), node) == {
            "ok": "add consumer extra"}
        queues = _answer(control.inspect([node], timeout=5).active_queues(), node)
        assert "extra" in [q["name"] for q in queues]
        assert _answer(control.cancel_consumer("extra", **target), node) == {
            "ok": "no longer consuming from extra"}
        queues = _answer(control.inspect([node], timeout=5).active_queues(), node)
        assert "extra" not in [q["name"] for q in queues]
