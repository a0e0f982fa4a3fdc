"""A fetch script that ran on the server but whose reply never reached the worker.

This is how a Redis restart stalled a worker (``test_redis_restart.py``, under load): the
server ran a fetch, leasing a window of messages, and exited before sending the reply. redis-py's
connection ``Retry`` re-sent the script to the restarted server, which leased other messages;
the first ones stayed leased to this live consumer (its liveness renewed, so no peer restores
them) with no ``Delivery`` in the worker and no error to say so.

The lost reply is produced by the real server, deterministically: a hard
``client-output-buffer-limit`` below the size of the reply makes Redis run the script, then
close the connection instead of answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from celeriac.transport.redis import RedisTransport
from celeriac.transport.redis.channel import RedisChannel
from tests.integration.redis_server import RedisServer, private_redis

pytestmark = pytest.mark.redis

QUEUE = "celery"
COUNT = 3
#: Each message is larger than this: a reply carrying them cannot be sent.
REPLY_LIMIT = 32 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path / "redis") as started:
        yield started


@pytest.fixture
def transport(server: RedisServer) -> Iterator[RedisTransport]:
    # A lease timeout far longer than the test: the heartbeat's periodic scan (every
    # lease_timeout / 2) runs on the first heartbeat only, so a test can tell it apart.
    made = RedisTransport.from_url(server.url(0), TransportOptions(lease_timeout=600.0))
    yield made
    made.close()


def publish_large(channel: RedisChannel) -> set[str]:
    body = b'"' + b"x" * (REPLY_LIMIT + 8 * 1024) + b'"'
    ids = {f"lost-reply-{n}" for n in range(COUNT)}
    channel.publish([Outbound(TaskMessage({"task": "proj.big", "id": tid},
                                          {"correlation_id": tid}, body), QUEUE)
                     for tid in sorted(ids)])
    return ids


def replies_are_lost(raw: redis.Redis, lost: bool) -> None:
    """Redis runs a command whose reply is over the limit, then drops the connection."""
    raw.config_set("client-output-buffer-limit", f"normal {REPLY_LIMIT if lost else 0} 0 0")


def fetched_ids(channel: RedisChannel) -> set[str]:
    got = channel.fetch([QUEUE], 10, 0)
    channel.ack(got)
    return {str(d.message.task_id) for d in got}


def test_messages_of_a_fetch_whose_reply_was_lost_come_back_at_the_next_heartbeat(
    server: RedisServer, transport: RedisTransport
) -> None:
    raw = server.client()
    channel = transport.channel()
    ids = publish_large(channel)
    channel.heartbeat()  # registers, and uses up the periodic scan
    replies_are_lost(raw, True)
    try:
        assert channel.fetch([QUEUE], 10, 0) == []  # the script ran; its reply was dropped
    finally:
        replies_are_lost(raw, False)
    assert raw.llen(QUEUE) == 0 and raw.hlen("unacked") == COUNT, "leased, never delivered"
    assert channel.heartbeat() == COUNT
    assert fetched_ids(channel) == ids
    assert raw.hlen("unacked") == 0
    channel.close()


def test_the_periodic_scan_returns_own_leases_whatever_leased_them(
    server: RedisServer, transport: RedisTransport
) -> None:
    """Leases of this consumer that no error announced (a script redis-py re-sent after a lost
    reply, as a claim of dead peers' leases is) go back at the heartbeat's periodic scan."""
    raw = server.client()
    channel = transport.channel()
    assert channel.fetch([QUEUE], 10, 0) == []  # registers, without a heartbeat's scan
    ids = publish_large(channel)
    layout = channel.layout
    keys = [layout.unacked_key, layout.unacked_index_key, channel.leases_key,
            channel.inflight_key, layout.deadletter, layout.delayed(QUEUE), layout.bucket(QUEUE)]
    replies_are_lost(raw, True)
    try:  # the pool client's Retry re-sends the script; the second run finds nothing
        assert channel.scripts.fetch(keys=keys, args=[0, 10, 1, "nonce", 1, QUEUE]) == []
    finally:
        replies_are_lost(raw, False)
    assert raw.hlen(channel.leases_key) == COUNT
    assert channel.heartbeat() == COUNT  # the first heartbeat: the scan is due
    assert fetched_ids(channel) == ids
    channel.close()
