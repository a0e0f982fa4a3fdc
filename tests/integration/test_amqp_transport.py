"""The AMQP transport against the real RabbitMQ, each test in a vhost of its own.

Time only bounds waits (``DEADLINE``); nothing asserts how long something took.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import amqp  # type: ignore[import-untyped]  # py-amqp ships no type information
import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.config.transport_keys import AmqpTransportOptions
from celeriac.exceptions import OperationalError
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import build_v2
from celeriac.routing.entities import Exchange, Queue
from celeriac.transport import resolve_transport
from celeriac.transport.amqp import AmqpChannel, AmqpTransport
from celeriac.transport.amqp.topology import DEAD_LETTER_QUEUE, delay_name
from celeriac.transport.base import Delivery, Outbound
from tests.integration.amqp_vhost import (
    HeldDelivery,
    Vhost,
    rabbitmq_vhost,
    short_consumer_timeout,
)

pytestmark = pytest.mark.amqp
DEADLINE = 30.0


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("transport") as made:
        yield made


@pytest.fixture
def make_channel(vhost: Vhost) -> Iterator[Callable[..., AmqpChannel]]:
    transports: list[AmqpTransport] = []

    def make(**extra: object) -> AmqpChannel:
        options = TransportOptions(amqp=AmqpTransportOptions.build(extra))
        transport = AmqpTransport.from_url(vhost.url, options)
        transports.append(transport)
        return transport.channel()

    yield make
    for transport in transports:
        transport.close()


def _task(n: int = 0, **options: object) -> TaskMessage:
    return build_v2(
        task_name="proj.add",
        task_id=str(uuid.uuid4()),
        args=(n, 3),
        kwargs={},
        origin="test@host",
        **options,  # type: ignore[arg-type]
    )


def _drain(
    channel: AmqpChannel, queues: Sequence[str], count: int, *, ack: bool = True
) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count and time.monotonic() < deadline:
        batch = channel.fetch(queues, count - len(got), timeout=0.2)
        if ack:
            channel.ack(batch)
        got.extend(batch)
    return got


def test_resolves_all_schemes(vhost: Vhost) -> None:
    for scheme in ("amqp", "pyamqp"):
        transport = resolve_transport(vhost.url.replace("amqp", scheme, 1))
        assert isinstance(transport, AmqpTransport)
        assert transport.params.vhost == vhost.name
    default = AmqpTransport.from_url("amqp://guest:guest@localhost:5672//", TransportOptions())
    assert default.params.vhost == "/"
    assert AmqpTransport.from_url("amqps://u:p%40ss@h/v", TransportOptions()).params.port == 5671


def test_round_trip_keeps_headers_properties_and_body(
    make_channel: Callable[..., AmqpChannel],
) -> None:
    channel = make_channel()
    message = _task(1, priority=3, headers={"big": 2**40, "nested": {"a": [1, None, "x"]}})
    channel.publish([Outbound(message, "q1")])
    [delivery] = _drain(channel, ["q1"], 1)
    got = delivery.message
    assert got.headers == message.headers  # None values travel as AMQP void
    assert got.headers["shadow"] is None and got.headers["big"] == 2**40
    assert got.body == message.body
    assert (got.content_type, got.content_encoding) == ("application/json", "utf-8")
    for key in ("correlation_id", "reply_to", "delivery_mode", "priority"):
        assert got.properties[key] == message.properties[key]
    assert got.properties["delivery_info"] == {"exchange": "", "routing_key": "q1"}
    assert delivery.queue == "q1" and not delivery.redelivered


def test_declares_like_celery(vhost: Vhost, make_channel: Callable[..., AmqpChannel]) -> None:
    make_channel().declare(["celery"])
    exchanges = vhost.ctl("list_exchanges", "-q", "--no-table-headers", "name", "type", "durable")
    assert "celery\tdirect\ttrue" in exchanges.splitlines()
    queues = vhost.ctl("list_queues", "-q", "--no-table-headers", "name", "durable", "arguments")
    assert "celery\ttrue\t[]" in queues.splitlines()
    bindings = vhost.ctl("list_bindings", "-q", "--no-table-headers")
    assert "celery\texchange\tcelery\tqueue\tcelery\t[]" in bindings.splitlines()
    # Celery declaring the same entities must not hit PRECONDITION_FAILED.
    conn = amqp.Connection("127.0.0.1:5672", virtual_host=vhost.name)
    conn.connect()
    try:
        ch = conn.channel()
        ch.exchange_declare("celery", "direct", durable=True, auto_delete=False)
        ch.queue_declare("celery", durable=True, auto_delete=False)
    finally:
        conn.close()


def test_batch_publish_confirmed_then_size_and_purge(
    make_channel: Callable[..., AmqpChannel],
) -> None:
    channel = make_channel()
    channel.publish([Outbound(_task(n), "bulk") for n in range(500)])
    assert channel.size("bulk") == 500
    assert channel.purge("bulk") == 500
    assert channel.size("bulk") == 0
    assert channel.size("never-declared") == 0


def test_fetch_is_fifo_and_acks_in_batches(make_channel: Callable[..., AmqpChannel]) -> None:
    channel = make_channel()
    sent = [_task(n) for n in range(50)]
    channel.publish([Outbound(m, "fifo") for m in sent])
    got = _drain(channel, ["fifo"], 50)
    assert [d.message.task_id for d in got] == [m.task_id for m in sent]
    assert channel.size("fifo") == 0


def test_unacked_go_back_on_close_and_reject_requeues(
    make_channel: Callable[..., AmqpChannel],
) -> None:
    first = make_channel()
    first.publish([Outbound(_task(n), "lease") for n in range(3)])
    held = _drain(first, ["lease"], 3, ack=False)
    first.reject(held[:1], requeue=True)
    again = _drain(first, ["lease"], 1, ack=False)
    assert again[0].message.task_id == held[0].message.task_id and again[0].redelivered
    first.close()
    second = make_channel()
    back = _drain(second, ["lease"], 3)
    assert {d.message.task_id for d in back} == {d.message.task_id for d in held}
    assert all(d.redelivered for d in back)


def test_set_aside_dead_letters_and_requeue(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    channel = make_channel()
    messages = [_task(n) for n in range(3)]
    channel.publish([Outbound(m, "work") for m in messages])
    held = _drain(channel, ["work"], 3, ack=False)
    channel.set_aside(held[0], "unknown task: proj.add")
    channel.reject(held[1:2], requeue=False)
    channel.ack(held[2:])
    dead = channel.dead_letters()
    assert [d.reason for d in dead] == ["unknown task: proj.add", "rejected without requeue"]
    assert {d.queue for d in dead} == {"work"} and all(d.set_aside_at > 0 for d in dead)
    assert vhost.queues()[DEAD_LETTER_QUEUE] == 2  # listing did not consume
    assert channel.requeue_dead_letters([dead[0].id]) == 1
    [back] = _drain(channel, ["work"], 1)
    assert back.message.task_id == held[0].message.task_id
    assert "x-celeriac-reason" not in back.message.headers
    assert channel.purge_dead_letters() == 1
    assert channel.dead_letters() == []


def test_defer_goes_through_a_delay_bucket(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    channel = make_channel()
    message = _task(7)
    channel.publish([Outbound(message, "later")])
    [delivery] = _drain(channel, ["later"], 1, ack=False)
    channel.defer(delivery, time.time() + 3.0)
    queues = vhost.queues()
    assert queues["later"] == 0 and queues[delay_name(1)] == 1  # acked; waiting in the 2 s bucket
    [back] = _drain(channel, ["later"], 1)
    assert back.message.task_id == message.task_id and back.message.body == message.body
    assert not any(key.startswith("x-death") for key in back.message.headers)


def test_publish_not_before_uses_the_bucket(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    channel = make_channel()
    soon, later = _task(1), _task(2)
    channel.publish([Outbound(soon, "eta"), Outbound(later, "eta", not_before=time.time() + 3.0)])
    assert vhost.queues()[delay_name(1)] == 1  # the 2 s bucket
    got = _drain(channel, ["eta"], 2)
    assert [d.message.task_id for d in got] == [soon.task_id, later.task_id]


def test_priorities_higher_first(vhost: Vhost, make_channel: Callable[..., AmqpChannel]) -> None:
    channel = make_channel(queue_max_priority=10)
    channel.declare(["prio"])
    assert "x-max-priority" in vhost.ctl("list_queues", "name", "arguments")
    channel.publish([Outbound(_task(p, priority=p), "prio") for p in (1, 9, 5, 0)])
    got = _drain(channel, ["prio"], 4)
    assert [d.message.properties["priority"] for d in got] == [9, 5, 1, 0]


def test_topic_and_fanout_entities_route_natively(make_channel: Callable[..., AmqpChannel]) -> None:
    channel = make_channel()
    tasks = Exchange("tasks", type="topic")
    fan = Exchange("fan", type="fanout")
    channel.declare_entities(
        [
            Queue("web_tasks", tasks, routing_key="web.#"),
            Queue("all_tasks", tasks, routing_key="task.#"),
            Queue("fan_a", fan),
            Queue("fan_b", fan),
        ]
    )
    channel.publish(
        [
            Outbound(_task(1), "web.page.render", exchange="tasks"),
            Outbound(_task(2), "task.x", exchange="tasks"),
            Outbound(_task(3), "anything", exchange="fan"),
        ]
    )
    assert [d.message.body for d in _drain(channel, ["web_tasks"], 1)] == [_task(1).body]
    assert len(_drain(channel, ["all_tasks"], 1)) == 1
    assert len(_drain(channel, ["fan_a", "fan_b"], 2)) == 2
    assert channel.size("web_tasks") == channel.size("all_tasks") == 0


def test_quorum_queue_consumes_with_per_consumer_qos(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    channel = make_channel(
        queue_max_priority=10, queue_arguments={"qq": {"x-queue-type": "quorum"}}
    )
    channel.publish([Outbound(_task(n, priority=n), "qq") for n in range(5)])
    assert "quorum" in vhost.ctl("list_queues", "name", "type")
    assert len(_drain(channel, ["qq"], 5)) == 5


def test_dropped_connections_lose_no_confirmed_task(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    producer, worker = make_channel(), make_channel(prefetch_count=10)
    ids: set[str] = set()
    for start in range(0, 200, 20):
        messages = [_task(n) for n in range(start, start + 20)]
        producer.publish([Outbound(m, "drop") for m in messages])
        ids.update(str(m.task_id) for m in messages)
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    dropped = False
    while seen != ids and time.monotonic() < deadline:
        batch = worker.fetch(["drop"], 10, timeout=0.2)
        if len(seen) >= 60 and not dropped:
            vhost.close_connections()  # mid-stream, with this batch still unacked
            dropped = True
        worker.ack(batch)
        seen.update(str(d.message.task_id) for d in batch)
    assert dropped and seen == ids
    producer.publish([Outbound(_task(999), "drop")])  # the producer reconnects too
    assert len(_drain(worker, ["drop"], 1)) == 1


def test_far_eta_survives_a_short_consumer_timeout(
    vhost: Vhost, make_channel: Callable[..., AmqpChannel]
) -> None:
    """RabbitMQ closes a channel that holds a delivery past ``consumer_timeout`` (2 s here, checked
    every 1 s); deferring to the delay buckets never holds one, so the consumer's connection stays
    the same while a task due in 5 s waits.

    Both consumers open while the short timeout is in force (RabbitMQ reads it when a channel
    opens); the control, which holds its delivery the way Celery holds an ETA task, is closed
    for it meanwhile, which proves the timeout applied.
    """
    with short_consumer_timeout(2000, 1000) as close_window:
        control = HeldDelivery(vhost.url, "held")
        try:
            channel = make_channel()
            eta = time.time() + 5.0
            channel.publish([Outbound(_task(1), "far", not_before=eta)])
            assert channel.fetch(["far"], 1, timeout=0.2) == []  # consuming; task in a bucket
            close_window()
            done = None
            deadline = time.monotonic() + 60
            while done is None and time.monotonic() < deadline:
                for delivery in channel.fetch(["far"], 1, timeout=0.5):
                    if eta - time.time() > 1.0:
                        channel.defer(delivery, eta)
                    else:
                        time.sleep(max(eta - time.time(), 0))  # the worker's short hold
                        channel.ack([delivery])
                        done = delivery
            assert done is not None and not done.redelivered and time.time() >= eta
            assert channel.consumer.link.generation == 1  # never closed by consumer_timeout
            assert control.closed_by_broker()
        finally:
            control.close()


def test_unreachable_broker_raises_operational_error() -> None:
    options = TransportOptions(connect_timeout=0.5, connection_max_retries=1)
    channel = AmqpTransport.from_url("amqp://guest:guest@127.0.0.1:1//", options).channel()
    with pytest.raises(OperationalError, match="unreachable"):
        channel.publish([Outbound(_task(1), "nowhere")])
    channel.close()
