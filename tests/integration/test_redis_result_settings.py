"""result_serializer, result_compression and result_extended on a Redis result store (a
redis-server of the test's own): the worker stores them, celeriac and Celery 5.7 read them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery as CeleryApp

from celeriac import Celery
from celeriac.backends.record_codec import COMPRESSED_MAGIC
from tests.helpers import in_process_worker
from tests.integration.redis_server import RedisServer

pytestmark = pytest.mark.redis

SETTINGS: dict[str, Any] = {
    "result_serializer": "msgpack",
    "result_compression": "gzip",
    "result_extended": True,
    "accept_content": ["json", "msgpack"],
}


@pytest.fixture
def app(server: RedisServer) -> Iterator[Celery]:
    app = Celery("redis_results", broker=f"memory://{uuid.uuid4().hex}",
                 backend=server.url(), **SETTINGS)

    @app.task(name="proj.add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    with in_process_worker(app, pool="threads", concurrency=2, hostname="w1@test"):
        yield app


def test_the_record_is_compressed_msgpack_with_the_request(app: Celery,
                                                          server: RedisServer) -> None:
    result = app.tasks["proj.add"].apply_async((2,), {"y": 3})
    assert result.get(timeout=10) == 5
    client = server.client()
    try:
        raw = client.get(f"celery-task-meta-{result.id}")
    finally:
        client.close()
    assert isinstance(raw, bytes)
    assert raw.startswith(COMPRESSED_MAGIC + b"application/x-gzip\0")
    fresh = app.AsyncResult(result.id)
    assert (fresh.name, fresh.args, fresh.kwargs, fresh.worker) == ("proj.add", [2], {"y": 3},
                                                                    "w1@test")


def test_celery_configured_alike_reads_the_record(app: Celery, server: RedisServer) -> None:
    result = app.tasks["proj.add"].apply_async((2,), {"y": 3})
    assert result.get(timeout=10) == 5
    celery_app = CeleryApp("reader", broker="memory://", backend=server.url(), **SETTINGS)
    try:
        theirs = celery_app.AsyncResult(result.id)
        assert (theirs.state, theirs.result) == ("SUCCESS", 5)
        assert (theirs.name, theirs.args, theirs.kwargs, theirs.queue) == (
            "proj.add", [2], {"y": 3}, "celery")
    finally:
        celery_app.close()
