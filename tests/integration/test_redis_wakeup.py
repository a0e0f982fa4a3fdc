"""Issue 11, defect 9: an idle Redis fetch on several queues wakes for a message on any of them.

The poll interval is set to a minute, so the only way a blocked fetch returns a message within
the test's generous bound is by being woken for the queue it landed on. Before the fix only one
queue's list was watched (``BLMOVE``), the others waited for the poll. The message is pushed
with a raw ``LPUSH``, as a Celery client writes it, once the fetch has run its first (empty)
script, i.e. once it is about to wait.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from functools import partial

import pytest
import redis

from celeriac.config.frozen import TransportOptions
from celeriac.config.transport_keys import RedisTransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Delivery, Outbound
from celeriac.transport.redis import RedisTransport
from celeriac.transport.redis.channel import RedisChannel
from celeriac.transport.redis.wakeup import non_overlapping
from tests.helpers import wait_until
from tests.integration.redis_server import RedisServer

pytestmark = pytest.mark.redis

QUEUES = ["hipri", "celery"]
POLL = 60.0  # far beyond the bound below: a poll cannot be what returns the message


@pytest.fixture
def transport(server: RedisServer) -> Iterator[RedisTransport]:
    # No socket timeout under the wait either: a timed-out read would retry the fetch.
    options = TransportOptions(redis=RedisTransportOptions(
        fetch_poll_interval=POLL, socket_timeout=2 * POLL))
    made = RedisTransport.from_url(server.url(0), options)
    yield made
    made.close()


def raw_envelope(raw: redis.Redis, transport: RedisTransport, queue: str) -> bytes:
    """A message as any kombu client frames it, taken off a staging list."""
    tid = str(uuid.uuid4())
    body = json.dumps([[1], {}, {"callbacks": None}]).encode()
    message = TaskMessage({"task": "proj.add", "id": tid}, {"correlation_id": tid}, body)
    transport.channel().publish([Outbound(message, "staging")])
    item = raw.rpop("staging")
    assert isinstance(item, bytes)
    envelope = json.loads(item)
    envelope["properties"]["delivery_info"]["routing_key"] = queue
    return json.dumps(envelope).encode()


def script_runs(raw: redis.Redis) -> int:
    stats = raw.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0))
               for name in ("cmdstat_evalsha", "cmdstat_eval"))


def ran_since(raw: redis.Redis, count: int) -> bool:
    return script_runs(raw) > count


def assert_wakes(channel: RedisChannel, raw: redis.Redis, transport: RedisTransport,
                 target: str) -> None:
    """A fetch waiting on ``QUEUES`` returns the message then pushed to ``target``."""
    envelope = raw_envelope(raw, transport, target)
    got: list[Delivery] = []
    before = script_runs(raw)
    fetching = threading.Thread(target=lambda: got.extend(channel.fetch(QUEUES, 10, POLL)))
    fetching.start()
    try:
        wait_until(partial(ran_since, raw, before), 10, message="the fetch's empty script")
        raw.lpush(target, envelope)
        fetching.join(20)
        assert not fetching.is_alive(), f"a message on {target!r} did not wake the fetch"
    finally:
        if fetching.is_alive():  # the old wait watched one list: wake it to end the test
            for queue in QUEUES:
                raw.lpush(queue, envelope)
            fetching.join(POLL)
    assert [d.queue for d in got] == [target]
    channel.ack(got)


def test_idle_fetch_on_several_queues_wakes_for_each_queue(
    server: RedisServer, transport: RedisTransport
) -> None:
    raw = server.client()
    channel = transport.channel()
    channel.declare(QUEUES)
    assert channel.fetch(QUEUES, 10, 0) == []  # registers; the next fetch starts empty
    for target in [*QUEUES, *QUEUES]:  # each twice, as queues are served in turn
        assert_wakes(channel, raw, transport, target)
    channel.close()


def test_the_watch_comes_back_after_a_redis_restart(
    server: RedisServer, transport: RedisTransport
) -> None:
    channel = transport.channel()
    channel.declare(QUEUES)
    assert channel.fetch(QUEUES, 10, 0) == []  # arms the watch
    server.restart()
    raw = server.client()
    for target in QUEUES:
        assert_wakes(channel, raw, transport, target)
    channel.close()


def test_a_server_refusing_client_tracking_falls_back_to_polling(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    raw = server.client()
    raw.acl_setuser("notrack", enabled=True, passwords=["+pw"], keys=["~*"], channels=["*"],
                    commands=["+@all", "-client"])
    url = f"redis://notrack:pw@127.0.0.1:{server.port}/0"
    made = RedisTransport.from_url(url, TransportOptions(
        redis=RedisTransportOptions(fetch_poll_interval=0.05)))
    try:
        channel = made.channel()
        envelope = raw_envelope(raw, made, "celery")
        raw.lpush("celery", envelope)
        got = channel.fetch(QUEUES, 10, 10)
        assert [d.queue for d in got] == ["celery"]
        assert "Redis refused client tracking" in caplog.text
        channel.ack(got)
    finally:
        made.close()


def test_overlapping_queue_names_are_watched_by_their_shortest_prefix() -> None:
    assert sorted(non_overlapping(["celery2", "celery", "hipri", "celery"])) == ["celery", "hipri"]
