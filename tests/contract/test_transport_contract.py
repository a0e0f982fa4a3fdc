"""The contract every broker transport keeps (``celeriac/transport/base.py``), run per transport.

Time only ever bounds a wait (``deadline``); no test asserts how long something took.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence

import pytest

from celeriac.protocol.envelope import decode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Capabilities, Channel, Delivery, Outbound, Transport

DEADLINE = 10.0


def _message(n: int = 0, priority: int | None = None, task_id: str | None = None) -> TaskMessage:
    properties: dict[str, object] = {"correlation_id": task_id or str(uuid.uuid4())}
    if priority is not None:
        properties["priority"] = priority
    return TaskMessage(
        headers={"task": "proj.add", "id": task_id or str(uuid.uuid4()), "n": n},
        properties=properties,
        body=f"[[{n}], {{}}, {{}}]".encode(),
    )


def _publish(
    channel: Channel, queue: str, count: int, not_before: float | None = None
) -> list[str]:
    messages = [_message(n) for n in range(count)]
    channel.publish([Outbound(m, routing_key=queue, not_before=not_before) for m in messages])
    return [str(m.task_id) for m in messages]


def _ids(deliveries: Sequence[Delivery]) -> list[str]:
    return [str(d.message.task_id) for d in deliveries]


def _fetch_until(
    channel: Channel, queues: Sequence[str], count: int, *, beat: Callable[[], object] | None = None
) -> list[Delivery]:
    """Fetch until ``count`` deliveries arrived or the deadline passed."""
    got: list[Delivery] = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count and time.monotonic() < deadline:
        if beat is not None:
            beat()
        got.extend(channel.fetch(queues, count - len(got), timeout=0.1))
    return got


def test_transport_declares_delayed_delivery(transport: Transport) -> None:
    assert isinstance(transport.capabilities, Capabilities)


def test_channel_satisfies_protocol(transport: Transport) -> None:
    assert isinstance(transport.channel(), Channel)


def test_published_message_is_fetched_unchanged(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    channel.declare([queue])
    message = _message(7, task_id="fixed-id")
    channel.publish([Outbound(message, routing_key=queue)])
    (delivery,) = channel.fetch([queue], 10, timeout=DEADLINE)
    assert delivery.queue == queue
    assert not delivery.redelivered
    assert delivery.message.headers == message.headers
    assert delivery.message.body == message.body
    assert delivery.message.content_type == message.content_type
    assert delivery.message.content_encoding == message.content_encoding
    assert delivery.message.properties["correlation_id"] == "fixed-id"


def test_fetch_returns_empty_list_when_nothing_comes(transport: Transport, queue: str) -> None:
    assert transport.channel().fetch([queue], 10, timeout=0.2) == []


def test_blocked_fetch_wakes_for_a_publish_from_another_thread(
    transport: Transport, queue: str
) -> None:
    consumer, producer = transport.channel(), transport.channel()
    results: list[Delivery] = []
    thread = threading.Thread(target=lambda: results.extend(consumer.fetch([queue], 1, DEADLINE)))
    thread.start()
    ids = _publish(producer, queue, 1)
    thread.join(DEADLINE + 5)
    assert _ids(results) == ids


def test_fetch_is_fifo_and_respects_limit(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 250)
    first = channel.fetch([queue], 100, timeout=DEADLINE)
    assert _ids(first) == ids[:100]
    rest = _fetch_until(channel, [queue], 150)
    assert _ids(rest) == ids[100:]


def test_fetch_reads_several_queues(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    other = queue + ".other"
    ids = _publish(channel, queue, 2) + _publish(channel, other, 2)
    got = _fetch_until(channel, [queue, other], 4)
    assert sorted(_ids(got)) == sorted(ids)
    assert {d.queue for d in got} == {queue, other}


def test_higher_priority_is_served_first(
    transport: Transport, higher_priority_first: bool, queue: str
) -> None:
    if not higher_priority_first:
        pytest.skip("this transport serves priority 0 first (kombu's Redis layout)")
    channel = transport.channel()
    low, high = _message(1, priority=1), _message(2, priority=9)
    channel.publish([Outbound(low, routing_key=queue), Outbound(high, routing_key=queue)])
    got = _fetch_until(channel, [queue], 2)
    assert _ids(got) == [high.task_id, low.task_id]


def test_ack_removes_for_good(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    _publish(channel, queue, 3)
    got = _fetch_until(channel, [queue], 3)
    channel.ack(got)
    channel.close()
    peer = transport.channel()
    assert peer.size(queue) == 0
    assert peer.fetch([queue], 10, timeout=0.2) == []


def test_leased_messages_are_not_ready(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    _publish(channel, queue, 5)
    assert channel.size(queue) == 5
    got = _fetch_until(channel, [queue], 2)
    assert len(got) == 2
    assert channel.size(queue) == 3
    rest = _fetch_until(transport.channel(), [queue], 3)
    assert set(_ids(rest)).isdisjoint(_ids(got))


def test_reject_with_requeue_redelivers(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 1)
    got = _fetch_until(channel, [queue], 1)
    channel.reject(got, requeue=True)
    again = _fetch_until(transport.channel(), [queue], 1)
    assert _ids(again) == ids
    assert again[0].redelivered


def test_reject_without_requeue_sets_aside(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 1)
    channel.reject(_fetch_until(channel, [queue], 1), requeue=False)
    assert channel.size(queue) == 0
    dead = [d for d in channel.dead_letters(1000) if d.queue == queue]
    assert [d.reason for d in dead] == ["rejected"]
    assert decode_envelope(dead[0].payload).task_id == ids[0]


def test_not_before_is_respected(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    not_before = time.time() + 0.5
    ids = _publish(channel, queue, 1, not_before=not_before)
    got = _fetch_until(channel, [queue], 1)
    assert time.time() >= not_before
    assert _ids(got) == ids


def test_past_not_before_is_ready_at_once(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 1, not_before=time.time() - 60)
    assert _ids(channel.fetch([queue], 1, timeout=DEADLINE)) == ids


def test_defer_hides_until_not_before(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 1)
    (delivery,) = _fetch_until(channel, [queue], 1)
    not_before = time.time() + 0.5
    channel.defer(delivery, not_before)
    got = _fetch_until(transport.channel(), [queue], 1)
    assert time.time() >= not_before
    assert _ids(got) == ids


def test_heartbeat_restores_leases_of_a_silent_channel(
    make_transport: Callable[..., Transport], queue: str
) -> None:
    transport = make_transport(lease_timeout=0.5, heartbeat_interval=0.1)
    silent, live = transport.channel(), transport.channel()
    ids = _publish(live, queue, 3)
    assert len(_fetch_until(silent, [queue], 3)) == 3
    restored: list[int] = []
    got = _fetch_until(live, [queue], 3, beat=lambda: restored.append(live.heartbeat()))
    assert sorted(_ids(got)) == sorted(ids)
    assert all(d.redelivered for d in got)
    assert sum(restored) == 3


def test_heartbeat_keeps_leases_of_a_live_channel(
    make_transport: Callable[..., Transport], queue: str
) -> None:
    transport = make_transport(lease_timeout=0.5, heartbeat_interval=0.1)
    holder, other = transport.channel(), transport.channel()
    _publish(holder, queue, 2)
    assert len(_fetch_until(holder, [queue], 2)) == 2
    watch_until = time.monotonic() + 1.5  # three lease timeouts: a lapse would show
    while time.monotonic() < watch_until:
        holder.heartbeat()
        assert other.heartbeat() == 0
        assert other.fetch([queue], 10, timeout=0.1) == []


def test_closed_channel_leases_come_back(
    make_transport: Callable[..., Transport], queue: str
) -> None:
    transport = make_transport(lease_timeout=0.5)
    closing, peer = transport.channel(), transport.channel()
    ids = _publish(peer, queue, 2)
    assert len(_fetch_until(closing, [queue], 2)) == 2
    closing.close()
    got = _fetch_until(peer, [queue], 2, beat=peer.heartbeat)
    assert sorted(_ids(got)) == sorted(ids)


def test_set_aside_then_requeue(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    ids = _publish(channel, queue, 2)
    bad, good = _fetch_until(channel, [queue], 2)
    channel.set_aside(bad, "undecodable body")
    channel.ack([good])
    dead = [d for d in channel.dead_letters(1000) if d.queue == queue]
    assert [(d.reason, decode_envelope(d.payload).body) for d in dead] == [
        ("undecodable body", bad.message.body)
    ]
    assert channel.size(queue) == 0
    assert channel.requeue_dead_letters([dead[0].id]) == 1
    assert [d for d in channel.dead_letters(1000) if d.queue == queue] == []
    again = _fetch_until(channel, [queue], 1)
    assert _ids(again) == ids[:1]
    assert again[0].message.headers == bad.message.headers


def test_purge_dead_letters(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    _publish(channel, queue, 2)
    for delivery in _fetch_until(channel, [queue], 2):
        channel.set_aside(delivery, "bad")
    assert channel.purge_dead_letters() >= 2
    assert [d for d in channel.dead_letters(1000) if d.queue == queue] == []


def test_purge_deletes_ready_but_not_leased(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    _publish(channel, queue, 5)
    _publish(channel, queue, 1, not_before=time.time() + 3600)
    leased = _fetch_until(channel, [queue], 1)
    assert channel.size(queue) == 5
    assert channel.purge(queue) == 5
    assert channel.size(queue) == 0
    channel.ack(leased)


def test_each_message_goes_to_exactly_one_of_two_channels(transport: Transport, queue: str) -> None:
    total = 300
    ids = _publish(transport.channel(), queue, total)
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        channel = transport.channel()
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with lock:
                if len(seen) >= total:
                    return
            got = channel.fetch([queue], 7, timeout=0.1)
            channel.ack(got)
            with lock:
                seen.extend(_ids(got))

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE + 5)
    assert sorted(seen) == sorted(ids)


def test_one_channel_shared_by_threads(transport: Transport, queue: str) -> None:
    channel = transport.channel()
    published: list[str] = []
    received: list[str] = []
    lock = threading.Lock()

    def produce() -> None:
        for _ in range(10):
            ids = _publish(channel, queue, 5)
            with lock:
                published.extend(ids)

    def consume() -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with lock:
                if len(received) >= 200:
                    return
            got = channel.fetch([queue], 10, timeout=0.05)
            channel.ack(got)
            channel.heartbeat()
            with lock:
                received.extend(_ids(got))

    threads = [threading.Thread(target=produce) for _ in range(4)]
    threads += [threading.Thread(target=consume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE + 5)
    assert len(published) == 200
    assert sorted(received) == sorted(published)


def test_close_is_idempotent(transport: Transport) -> None:
    channel = transport.channel()
    channel.close()
    channel.close()
    transport.close()
