"""Issue 11, defect 6 on Redis: the server-side script decides on the parsed status.

Its own ``redis-server`` (``tests/integration/redis_server.py``), stopped by PID: nothing on
6379 is read, written or flushed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from celeriac import states
from celeriac.backends.redis import RedisBackend
from celeriac.config.frozen import BackendOptions
from celeriac.protocol.result_meta import ResultMeta, now_iso
from tests.integration.redis_server import RedisServer, private_redis

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with private_redis(Path(tmp_path_factory.mktemp("redis"))) as started:
        yield started


@pytest.fixture
def backend(server: RedisServer) -> Iterator[RedisBackend]:
    store = RedisBackend.from_url(server.url(), BackendOptions(expires=600))
    yield store
    store.close()


@pytest.fixture
def raw(server: RedisServer) -> Iterator[redis.Redis]:
    client = server.client()
    yield client
    client.close()


def test_progress_whose_meta_says_success_is_replaced_by_the_real_success(
    backend: RedisBackend, raw: redis.Redis
) -> None:
    backend.store([ResultMeta("run-meta", "RUN", "SUCCESS")])
    backend.store([ResultMeta("run-meta", states.SUCCESS, 3, date_done=now_iso())])
    assert backend.get("run-meta").status == states.SUCCESS
    record = json.loads(raw.get("celery-task-meta-run-meta"))  # type: ignore[arg-type]
    assert (record["status"], record["result"]) == ("SUCCESS", 3)


def test_a_success_in_any_field_order_or_spacing_is_still_kept(
    backend: RedisBackend, raw: redis.Redis
) -> None:
    """Records another client wrote (fields reordered, compact separators) parse in full."""
    raw.set("celery-task-meta-reordered", '{"task_id":"reordered","status":"SUCCESS","result":1}')
    raw.set("celery-task-meta-escaped", '{"status": "RUN\\\\", "result": "SUCCESS"}')
    backend.store([ResultMeta("reordered", states.FAILURE, None),
                   ResultMeta("escaped", states.SUCCESS, 2, date_done=now_iso())])
    assert backend.get("reordered").status == states.SUCCESS
    assert backend.get("reordered").result == 1
    assert (backend.get("escaped").status, backend.get("escaped").result) == (states.SUCCESS, 2)


def test_a_stored_success_is_never_overwritten(backend: RedisBackend) -> None:
    backend.store([ResultMeta("done", states.SUCCESS, "first", date_done=now_iso())])
    backend.store([ResultMeta("done", states.STARTED, None)])
    assert (backend.get("done").status, backend.get("done").result) == (states.SUCCESS, "first")
