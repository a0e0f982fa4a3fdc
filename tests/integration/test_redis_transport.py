"""The Redis channel against a real Redis (db 8): kombu layout, leases, restore, dead letters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from celeriac.config.frozen import TransportOptions
from celeriac.config.transport_keys import RedisTransportOptions
from celeriac.exceptions import OperationalError
from celeriac.protocol.envelope import decode_envelope, encode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.transport import resolve_transport
from celeriac.transport.base import Channel, Outbound
from celeriac.transport.redis import RedisTransport
from tests.helpers import flushed_redis, wait_until
from tests.suite_redis import suite_redis_url

pytestmark = pytest.mark.redis
URL = suite_redis_url(8)


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    with flushed_redis(URL) as client:
        yield client


@pytest.fixture
def make_transport(raw: redis.Redis) -> Iterator[object]:
    made: list[RedisTransport] = []

    def make(**extra: object) -> RedisTransport:
        lease = float(extra.pop("lease_timeout", 6.0))  # type: ignore[arg-type]
        retries = extra.pop("max_retries", 100)
        options = TransportOptions(
            lease_timeout=lease, redis=RedisTransportOptions.build(extra),
            connection_max_retries=retries,  # type: ignore[arg-type]
        )
        transport = RedisTransport.from_url(URL, options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def channel(make_transport: object) -> Channel:
    return make_transport().channel()  # type: ignore[operator,no-any-return]


def message(n: int = 0, priority: int | None = None, task_id: str | None = None) -> TaskMessage:
    tid = task_id or str(uuid.uuid4())
    props: dict[str, object] = {"correlation_id": tid, "delivery_mode": 2}
    if priority is not None:
        props["priority"] = priority
    body = json.dumps([[n], {}, {"callbacks": None}]).encode()
    return TaskMessage({"task": "proj.add", "id": tid, "n": n}, props, body)


def numbers(deliveries: list) -> list[int]:  # type: ignore[type-arg]
    return [d.message.headers["n"] for d in deliveries]


def test_resolve_and_protocol(raw: redis.Redis) -> None:
    transport = resolve_transport(URL)
    try:
        assert isinstance(transport, RedisTransport)
        assert transport.capabilities.delayed_delivery
        assert isinstance(transport.channel(), Channel)
    finally:
        transport.close()


def test_publish_fetch_ack_in_kombu_layout(channel: Channel, raw: redis.Redis) -> None:
    channel.declare(["celery"])
    assert raw.smembers("_kombu.binding.celery") == {b"celery\x06\x16\x06\x16celery"}
    assert raw.smembers("_kombu.binding_permanent.celery") == {b"celery\x06\x16\x06\x16celery"}
    channel.publish([Outbound(message(n), "celery") for n in range(5)])
    assert raw.llen("celery") == 5
    got = channel.fetch(["celery"], 3, 1.0)
    assert numbers(got) == [0, 1, 2]  # FIFO
    assert got[0].queue == "celery" and not got[0].redelivered
    # kombu's ack emulation sees exactly what a Celery worker would have written.
    stored = json.loads(raw.hget("unacked", got[0].tag))  # type: ignore[arg-type]
    assert stored[1:] == ["", "celery"]
    assert stored[0]["properties"]["delivery_tag"] == got[0].tag
    assert raw.zscore("unacked_index", got[0].tag) is not None
    channel.ack(got)
    assert raw.hlen("unacked") == 0 and raw.zcard("unacked_index") == 0
    assert channel.size("celery") == 2


def test_priorities_served_low_number_first(channel: Channel, raw: redis.Redis) -> None:
    channel.publish([Outbound(message(p, priority=p), "prio") for p in (9, 0, 5, 2, 7)])
    assert [raw.llen(k) for k in ("prio", "prio\x06\x163", "prio\x06\x166", "prio\x06\x169")] == [
        2, 1, 1, 1
    ]
    assert numbers(channel.fetch(["prio"], 10, 1.0)) == [0, 2, 5, 7, 9]


def test_round_robin_across_queues(channel: Channel) -> None:
    channel.publish([Outbound(message(n), q) for q in ("a", "b") for n in range(3)])
    first = channel.fetch(["a", "b"], 1, 1.0)
    second = channel.fetch(["a", "b"], 1, 1.0)
    assert {first[0].queue, second[0].queue} == {"a", "b"}


def test_reject_requeue_and_set_aside(channel: Channel) -> None:
    channel.publish([Outbound(message(n), "q") for n in range(2)])
    one, two = channel.fetch(["q"], 2, 1.0)
    channel.reject([one], requeue=True)
    again = channel.fetch(["q"], 5, 1.0)
    assert numbers(again) == [0] and again[0].redelivered
    channel.reject([two], requeue=False)
    letters = channel.dead_letters()
    assert [(x.id, x.queue, x.reason) for x in letters] == [
        (two.message.task_id, "q", "rejected")
    ]
    assert decode_envelope(letters[0].payload).headers["n"] == 1
    assert channel.requeue_dead_letters() == 1
    assert numbers(channel.fetch(["q"], 5, 1.0)) == [1]
    assert channel.dead_letters() == []


def test_eta_messages_are_pushed_like_kombu_by_default(channel: Channel,
                                                        raw: redis.Redis) -> None:
    channel.publish([Outbound(message(1), "q", not_before=time.time() + 60)])
    assert raw.llen("q") == 1 and raw.zcard("celeriac.delayed.q") == 0


def test_delayed_publish_and_defer(make_transport: object, raw: redis.Redis) -> None:
    channel = make_transport(delay_on_publish=True).channel()  # type: ignore[operator]
    soon = time.time() + 0.3
    channel.publish([Outbound(message(1), "q", not_before=soon)])
    assert channel.size("q") == 1 and raw.llen("q") == 0  # size counts scheduled messages
    assert raw.zcard("celeriac.delayed.q") == 1
    got = channel.fetch(["q"], 5, 5.0)
    assert numbers(got) == [1] and time.time() >= soon
    channel.defer(got[0], time.time() + 0.2)
    assert raw.hlen("unacked") == 0 and raw.zcard("celeriac.delayed.q") == 1
    again = channel.fetch(["q"], 5, 5.0)
    assert numbers(again) == [1] and again[0].tag == got[0].tag


def test_blocking_fetch_wakes_on_publish(make_transport: object) -> None:
    transport = make_transport()  # type: ignore[operator]
    consumer, producer = transport.channel(), transport.channel()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.extend(consumer.fetch(["w"], 10, 30.0)))
    thread.start()
    producer.publish([Outbound(message(7), "w")])
    thread.join(30)
    assert numbers(result) == [7]


def test_malformed_envelopes_are_set_aside(channel: Channel, raw: redis.Redis) -> None:
    good = encode_envelope(message(1), exchange="", routing_key="bad")
    env = json.loads(good)
    no_tag = json.loads(good)
    del no_tag["properties"]["delivery_tag"]
    no_headers = {k: v for k, v in env.items() if k != "headers"}
    no_headers["properties"] = {**env["properties"], "delivery_tag": "t-no-headers"}
    bad_b64 = {**env, "body": "%%%"}
    bad_b64["properties"] = {**env["properties"], "delivery_tag": "t-bad-b64"}
    raw.lpush("bad", b"{not json", json.dumps([1, 2]), json.dumps(no_tag),
              json.dumps(no_headers), json.dumps(bad_b64), good, good)
    got = channel.fetch(["bad"], 10, 1.0)
    assert numbers(got) == [1]
    reasons = [letter.reason for letter in channel.dead_letters()]
    assert len(reasons) == 6
    for fragment in ("not valid JSON", "JSON list", "delivery_tag is missing",
                     "'headers' is missing", "base64", "duplicate delivery_tag"):
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    assert raw.hlen(channel.leases_key) == 1  # type: ignore[attr-defined]
    assert channel.purge_dead_letters() == 6


def test_heartbeat_rescores_and_restores_dead_consumer(make_transport: object,
                                                       raw: redis.Redis) -> None:
    transport = make_transport(lease_timeout=0.3)  # type: ignore[operator]
    dying, survivor = transport.channel(), transport.channel()
    dying.publish([Outbound(message(n), "q") for n in range(3)])
    held = dying.fetch(["q"], 3, 1.0)
    raw.zadd("unacked_index", {d.tag: 1.0 for d in held})
    dying.heartbeat()
    assert all(raw.zscore("unacked_index", d.tag) > 1.0 for d in held)  # type: ignore[operator]
    restored = [0]

    def restored_all() -> bool:
        survivor._next_scan = 0.0  # scan on every beat in this test
        restored[0] += survivor.heartbeat()
        return restored[0] == 3

    wait_until(restored_all, timeout=10, message="dead consumer's leases restored")
    again = survivor.fetch(["q"], 10, 1.0)
    assert sorted(numbers(again)) == [0, 1, 2] and all(d.redelivered for d in again)
    dying.ack(held)  # a late ack of a restored message changes nothing
    assert raw.hlen("unacked") == 3


def test_visibility_timeout_restores_celery_leftovers(channel: Channel, raw: redis.Redis) -> None:
    env = json.loads(encode_envelope(message(4, priority=6), exchange="", routing_key="vq"))
    tag = env["properties"]["delivery_tag"]
    raw.hset("unacked", tag, json.dumps([env, "", "vq"]))
    raw.zadd("unacked_index", {tag: time.time() - 7200})
    assert channel.heartbeat() == 1
    assert raw.llen("vq\x06\x166") == 1
    got = channel.fetch(["vq"], 5, 1.0)
    assert numbers(got) == [4] and got[0].redelivered and got[0].tag == tag


def test_close_returns_leases(make_transport: object, raw: redis.Redis) -> None:
    transport = make_transport()  # type: ignore[operator]
    first = transport.channel()
    first.publish([Outbound(message(n), "q") for n in range(4)])
    assert len(first.fetch(["q"], 4, 1.0)) == 4
    first.close()
    assert raw.llen("q") == 4 and raw.hlen("unacked") == 0
    assert raw.smembers("celeriac.consumers") == set()


def test_purge_and_size_cover_all_buckets(channel: Channel) -> None:
    channel.publish([Outbound(message(p, priority=p), "pq") for p in range(10)])
    assert channel.size("pq") == 10
    assert channel.purge("pq") == 10
    assert channel.size("pq") == 0


def test_global_keyprefix(make_transport: object, raw: redis.Redis) -> None:
    prefixed = make_transport(global_keyprefix="app1:").channel()  # type: ignore[operator]
    prefixed.publish([Outbound(message(1, priority=3), "q")])
    assert raw.llen("app1:q\x06\x163") == 1
    got = prefixed.fetch(["q"], 1, 1.0)
    assert raw.hexists("app1:unacked", got[0].tag)
    prefixed.ack(got)


def test_unreachable_redis_raises_operational_error() -> None:
    options = TransportOptions(connection_max_retries=1, connect_timeout=0.5)
    transport = RedisTransport.from_url("redis://127.0.0.1:1/0", options)
    try:
        with pytest.raises(OperationalError, match=r"at redis://127\.0\.0\.1:1/0 unreachable"):
            transport.channel().publish([Outbound(message(), "q")])
    finally:
        transport.close()


KILLED_CONSUMER = textwrap.dedent(
    """
    import sys, time
    from celeriac.config.frozen import TransportOptions
    from celeriac.transport.redis import RedisTransport
    t = RedisTransport.from_url(sys.argv[1], TransportOptions(lease_timeout=1.0))
    ch = t.channel()
    got = []
    while len(got) < int(sys.argv[2]):
        got += ch.fetch(["killq"], 10, 1.0)
    print("fetched", len(got), flush=True)
    time.sleep(600)
    """
)


def test_sigkilled_consumer_messages_come_back(make_transport: object, raw: redis.Redis,
                                               tmp_path: Path) -> None:
    transport = make_transport(lease_timeout=1.0)  # type: ignore[operator]
    survivor = transport.channel()
    survivor.publish([Outbound(message(n), "killq") for n in range(5)])
    script = tmp_path / "consumer.py"
    script.write_text(KILLED_CONSUMER)
    proc = subprocess.Popen([sys.executable, str(script), URL, "5"], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"fetched 5")
        assert raw.llen("killq") == 0 and raw.hlen("unacked") == 5
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    restored = [0]

    def back() -> bool:
        restored[0] += survivor.heartbeat()
        return restored[0] >= 5

    wait_until(back, timeout=15, interval=0.1, message="killed consumer's messages restored")
    assert sorted(numbers(survivor.fetch(["killq"], 10, 1.0))) == [0, 1, 2, 3, 4]


def test_dead_consumers_inflight_list_goes_back(channel: Channel, raw: redis.Redis) -> None:
    """A consumer killed between its blocking BLMOVE and the fetch script loses nothing."""
    envelope = encode_envelope(message(8, priority=9), exchange="", routing_key="iq")
    raw.sadd("celeriac.consumers", "ghost")
    raw.lpush("celeriac.inflight.ghost", envelope, b"garbage")
    channel.heartbeat()
    assert raw.lrange("iq\x06\x169", 0, -1) == [envelope]
    assert not raw.exists("celeriac.inflight.ghost")
    assert [d.reason for d in channel.dead_letters()] == [
        "undecodable envelope left by a dead consumer"
    ]
    assert raw.smembers("celeriac.consumers") == {channel.consumer_id.encode()}  # type: ignore[attr-defined]
