"""``PipelinedPublisher``: broadcasts without a round trip each, on a real private Redis.

Every broadcast arrives, in order; unread replies stay bounded; a Redis restarted between two
broadcasts costs none of them; an error reply is logged, not raised at a later caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from celeriac.transport.redis.publisher import MAX_IN_FLIGHT, PipelinedPublisher
from tests.helpers import wait_until
from tests.integration.redis_server import RedisServer, private_redis

pytestmark = pytest.mark.redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path) as started:
        yield started


def _subscribed(client: redis.Redis, channel: str) -> Any:
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(channel)
    wait_until(lambda: client.pubsub_numsub(channel)[0][1] == 1, message="the subscription")
    return pubsub


def _received(pubsub: Any, count: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None:
            got.append(message["data"])
    return got


def test_every_broadcast_arrives_in_order_with_replies_read_later(server: RedisServer) -> None:
    client = server.client()
    pubsub = _subscribed(client, "news")
    publisher = PipelinedPublisher(client)
    payloads = [f"m{i}".encode() for i in range(3 * MAX_IN_FLIGHT)]
    for payload in payloads:
        publisher.publish("news", payload)
        assert publisher.in_flight <= MAX_IN_FLIGHT
    assert _received(pubsub, len(payloads)) == payloads
    publisher.close()
    assert publisher.in_flight == 0


def test_a_redis_restart_between_broadcasts_loses_none(server: RedisServer) -> None:
    publisher = PipelinedPublisher(server.client())
    publisher.publish("news", b"before")
    server.restart()
    client = server.client()  # kept: redis-py closes a dropped client's pool, pub/sub too
    pubsub = _subscribed(client, "news")
    publisher.publish("news", b"after")  # the kept connection is dead: a new one is made
    assert _received(pubsub, 1) == [b"after"]
    publisher.close()


def test_a_stopped_redis_raises_at_the_broadcast(server: RedisServer) -> None:
    publisher = PipelinedPublisher(server.client())
    publisher.publish("news", b"one")
    server.stop()
    with pytest.raises(redis.ConnectionError):
        publisher.publish("news", b"two")
    publisher.close()


def test_an_error_reply_is_logged_not_raised(server: RedisServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    # A user that may publish on "news" only: a PUBLISH elsewhere gets a NOPERM reply.
    server.client().acl_setuser("newsonly", enabled=True, passwords=["+pw"], keys=["*"],
                                channels=["news"], commands=["+@all"])
    limited = redis.Redis(port=server.port, username="newsonly", password="pw")
    client = server.client()
    pubsub = _subscribed(client, "news")
    publisher = PipelinedPublisher(limited)
    with caplog.at_level(logging.WARNING, "celeriac.transport.redis.publisher"):
        publisher.publish("sports", b"refused")
        publisher.publish("news", b"fine")  # reads the refusal of the one before
        publisher.close()
    assert _received(pubsub, 1) == [b"fine"]
    [refusal] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusal.startswith("Redis refused a broadcast:") and "permissions" in refusal
