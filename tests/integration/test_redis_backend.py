"""RedisBackend against a real Redis (db 10): Celery's record layout, pub/sub, TTL, waiting."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from celeriac import states
from celeriac.backends.redis import RedisBackend, celery_keyprefix
from celeriac.config.frozen import BackendOptions
from celeriac.config.transport_keys import RedisStoreOptions
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta, now_iso
from tests.helpers import flushed_redis, wait_until
from tests.suite_redis import suite_redis_url

pytestmark = pytest.mark.redis
URL = suite_redis_url(10)


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    with flushed_redis(URL) as client:
        yield client


@pytest.fixture
def backend(raw: redis.Redis) -> Iterator[RedisBackend]:
    store = RedisBackend.from_url(URL, BackendOptions(expires=600))
    yield store
    store.close()


def success(task_id: str, value: object = 5) -> ResultMeta:
    return ResultMeta(task_id, states.SUCCESS, value, date_done=now_iso())


def test_store_writes_celerys_record_with_ttl(backend: RedisBackend, raw: redis.Redis) -> None:
    tid = str(uuid.uuid4())
    backend.store([success(tid)])
    record = json.loads(raw.get(f"celery-task-meta-{tid}"))  # type: ignore[arg-type]
    assert list(record) == ["status", "result", "traceback", "children", "date_done", "task_id"]
    assert record["status"] == "SUCCESS" and record["result"] == 5
    assert 0 < raw.ttl(f"celery-task-meta-{tid}") <= 600
    assert backend.get(tid).status == states.SUCCESS


def test_no_ttl_when_expires_is_none(raw: redis.Redis) -> None:
    store = RedisBackend.from_url(URL, BackendOptions(expires=None))
    try:
        store.store([success("forever")])
        assert raw.ttl("celery-task-meta-forever") == -1
    finally:
        store.close()


def test_success_is_never_overwritten(backend: RedisBackend) -> None:
    backend.store([success("dup", "first")])
    backend.store([ResultMeta("dup", states.FAILURE, {"exc_type": "ValueError"})])
    assert backend.get("dup").result == "first"


def test_store_publishes_on_the_key_channel(backend: RedisBackend, raw: redis.Redis) -> None:
    pubsub = raw.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe("celery-task-meta-pub")
    try:
        backend.store([success("pub")])
        message = None
        for _ in range(50):
            message = pubsub.get_message(timeout=0.2)
            if message:
                break
        assert message is not None and json.loads(message["data"])["status"] == "SUCCESS"
    finally:
        pubsub.close()


def test_get_many_keeps_order_and_pending(backend: RedisBackend) -> None:
    backend.store([success("a", 1), success("c", 3)])
    metas = backend.get_many(["a", "b", "c"])
    assert [(m.task_id, m.status, m.result) for m in metas] == [
        ("a", "SUCCESS", 1), ("b", "PENDING", None), ("c", "SUCCESS", 3)
    ]


def test_wait_wakes_on_notification(backend: RedisBackend, raw: redis.Redis) -> None:
    tid = str(uuid.uuid4())
    channel = f"celery-task-meta-{tid}"

    def finish_when_subscribed() -> None:
        wait_until(lambda: raw.pubsub_numsub(channel)[0][1] >= 1, timeout=10,
                   message="waiter subscribed")
        writer = RedisBackend.from_url(URL)
        writer.store([success(tid, 42)])
        writer.close()

    thread = threading.Thread(target=finish_when_subscribed)
    thread.start()
    meta = backend.wait(tid, timeout=30)
    thread.join(10)
    assert (meta.status, meta.result) == ("SUCCESS", 42)


def test_wait_times_out(backend: RedisBackend) -> None:
    with pytest.raises(TimeoutError):
        backend.wait("never", timeout=0.2)


def test_forget(backend: RedisBackend) -> None:
    backend.store([success("gone")])
    backend.forget("gone")
    assert backend.get("gone").status == states.PENDING


def test_global_keyprefix_follows_celery(raw: redis.Redis) -> None:
    assert celery_keyprefix("app") == "app_" and celery_keyprefix("app:") == "app:"
    store = RedisBackend.from_url(
        URL, BackendOptions(redis=RedisStoreOptions(global_keyprefix="app")))
    try:
        store.store([success("p")])
        assert raw.exists("app_celery-task-meta-p")
        assert store.get("p").status == states.SUCCESS
    finally:
        store.close()


def test_celery_reads_ours_and_we_read_celerys(backend: RedisBackend) -> None:
    celery = pytest.importorskip("celery")
    app = celery.Celery("interop", broker="memory://", backend=URL)
    try:
        backend.store([ResultMeta("ours", states.FAILURE,
                                  {"exc_type": "ValueError", "exc_message": ["bad"],
                                   "exc_module": "builtins"},
                                  traceback="tb", date_done=now_iso())])
        theirs = app.AsyncResult("ours")
        assert theirs.state == "FAILURE" and isinstance(theirs.result, ValueError)
        app.backend.store_result("theirs", {"x": [1, 2]}, "SUCCESS")
        meta = backend.get("theirs")
        assert (meta.status, meta.result) == ("SUCCESS", {"x": [1, 2]})
    finally:
        app.close()
