"""The beat lease on a real Redis (db 12, a key prefix of its own per test)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat.lock_redis import RedisLock
from celeriac.beat.scheduler import BeatOptions, Scheduler
from celeriac.beat.store import MemoryScheduleStore
from tests.helpers import wait_until
from tests.suite_redis import require_suite_redis, suite_redis_url

pytestmark = pytest.mark.redis

REDIS_URL = suite_redis_url(12)


@pytest.fixture
def prefix() -> Iterator[str]:
    require_suite_redis()
    import redis

    value = f"beatlock-{uuid.uuid4().hex[:12]}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{value}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def app(prefix: str) -> Iterator[Celery]:
    application = Celery(
        "t",
        broker=REDIS_URL,
        backend=f"cache+memory://{prefix}",
        broker_transport_options={"global_keyprefix": prefix},
    )
    yield application
    application.close()


def client_of(app: Celery) -> Any:
    return app.transport.client  # type: ignore[attr-defined]  # RedisTransport's client


def test_lease_key_is_prefixed_and_excludes_a_second_holder(app: Celery, prefix: str) -> None:
    client = client_of(app)
    first = RedisLock.for_transport(app.transport, "a")
    second = RedisLock.for_transport(app.transport, "b")
    assert first.key == f"{prefix}celeriac.beat.lock"
    assert first.acquire(30)
    assert not second.acquire(30)
    assert first.acquire(30)  # renewing is not refused
    assert client.get(first.key) in (b"a", "a")
    assert 0 < client.pttl(first.key) <= 30_000


def test_release_only_deletes_our_own_lease(app: Celery) -> None:
    first = RedisLock.for_transport(app.transport, "a")
    second = RedisLock.for_transport(app.transport, "b")
    assert first.acquire(30)
    second.release()
    assert not second.acquire(30)
    first.release()
    assert second.acquire(30)


def test_expired_lease_is_taken_over(app: Celery) -> None:
    first = RedisLock.for_transport(app.transport, "a")
    second = RedisLock.for_transport(app.transport, "b")
    assert first.acquire(0.3)
    assert not second.acquire(0.3)
    wait_until(lambda: second.acquire(30), 5, message="the lease to expire")
    assert not first.acquire(30)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_two_schedulers_on_a_redis_broker_send_once(app: Celery, prefix: str) -> None:
    app.conf.beat_schedule = {"e": {"task": "t.add", "schedule": 2.0, "args": (1, 2)}}
    clock = FakeClock()
    store = MemoryScheduleStore()
    options = BeatOptions(max_interval=30, schedule_filename=None)
    first = Scheduler(app, options, clock=clock, store=store)
    second = Scheduler(app, options, clock=clock, store=store)
    try:
        for _ in range(10):
            first.tick()
            second.tick()
            clock.now += timedelta(seconds=1)
        assert first.active and not second.active
        channel = app.transport.channel()
        try:
            deliveries = channel.fetch(["celery"], 100, 1)
            channel.ack(deliveries)
        finally:
            channel.close()
        assert len(deliveries) == 4  # at t = 2, 4, 6 and 8
        assert all(json.loads(d.message.body)[0] == [1, 2] for d in deliveries)
    finally:
        first.close()
        second.close()
    assert client_of(app).exists(f"{prefix}celeriac.beat.lock") == 0


def test_redis_run_state_store_round_trips_and_hosts_the_lease(prefix: str) -> None:
    from celeriac.beat.lock import lock_for
    from celeriac.beat.store import EntryState, open_store
    from celeriac.beat.store_redis import RedisScheduleStore
    from celeriac.config.transport_keys import RedisClientOptions

    store = open_store(REDIS_URL, RedisClientOptions(global_keyprefix=prefix))
    assert isinstance(store, RedisScheduleStore)
    when = datetime(2024, 3, 1, 12, tzinfo=UTC)
    try:
        store.save({"a": EntryState(when, 3), "b": EntryState(when, 1)})
        store.save({}, forget=["b"])
        assert store.load() == {"a": EntryState(when, 3)}
        assert store.key == f"{prefix}celeriac.beat.state"
        amqp_app = Celery("t", broker="amqp://guest:guest@127.0.0.1//")
        lock = lock_for(amqp_app, "me", lambda: 0.0, store)
        assert isinstance(lock, RedisLock) and lock.key == f"{prefix}celeriac.beat.lock"
        assert lock.acquire(5)
    finally:
        store.close()
