"""Raw (non-task) messages cross between celeriac and kombu on Redis (db 12): what
``app.connection().Producer().publish`` sends, a kombu consumer reads as the same body, and a
``bootsteps.Consumer`` reads what a kombu producer sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, bootsteps
from tests.helpers import flushed_redis, unique_name
from tests.suite_redis import suite_redis_url

pytestmark = pytest.mark.redis
URL = suite_redis_url(12)
# kombu ships no type hints: reach its classes as Any.
_kombu: Any = pytest.importorskip("kombu")


@pytest.fixture
def app() -> Iterator[Celery]:
    with flushed_redis(URL):
        app = Celery("raw", broker=URL, set_as_current=False)
        yield app
        app.close()


def test_kombu_reads_what_celeriac_published(app: Celery) -> None:
    queue = unique_name("raw")
    with app.connection() as conn:
        conn.Producer().publish({"n": [1, "two"]}, routing_key=queue, headers={"k": "v"})
    with _kombu.Connection(URL) as kconn:
        simple = kconn.SimpleQueue(queue)
        try:
            message = simple.get(timeout=5)
            assert message.payload == {"n": [1, "two"]}
            assert message.headers["k"] == "v"
            message.ack()
        finally:
            simple.close()


def test_celeriac_step_consumer_reads_what_kombu_published(app: Celery) -> None:
    queue = unique_name("raw")
    got: list[Any] = []
    done = threading.Event()

    def on_body(body: Any, message: bootsteps.Message) -> None:
        got.append(body)
        message.ack()
        done.set()

    channel = app.transport.channel()
    consumer = bootsteps.Consumer(channel, queues=[_kombu.Queue(queue)], callbacks=[on_body])
    with _kombu.Connection(URL) as kconn:
        kconn.Producer().publish({"from": "kombu"}, routing_key=queue,
                                 declare=[_kombu.Queue(queue)], serializer="json")
    consumer.consume()
    try:
        assert done.wait(10)
    finally:
        consumer.cancel()
        channel.close()
    assert got == [{"from": "kombu"}]


@pytest.mark.amqp
def test_amqp_publish_through_an_exchange_reaches_a_kombu_consumer() -> None:
    """On RabbitMQ the exchange and binding are declared for real, so the broker routes."""
    from tests.integration.amqp_vhost import rabbitmq_vhost

    with rabbitmq_vhost("raw") as vhost:
        app = Celery("raw_amqp", broker=vhost.url, set_as_current=False)
        exchange = _kombu.Exchange("custom_x", type="direct")
        queue = _kombu.Queue("custom_q", exchange, "routing_key")
        try:
            with app.producer_or_acquire() as producer:
                producer.publish({"hello": "amqp"}, exchange=exchange,
                                 routing_key="routing_key", declare=[queue], retry=True)
            with _kombu.Connection(vhost.url) as kconn:
                simple = kconn.SimpleQueue(queue)
                try:
                    message = simple.get(timeout=5)
                    assert message.payload == {"hello": "amqp"}
                    assert message.delivery_info["exchange"] == "custom_x"
                    message.ack()
                finally:
                    simple.close()
        finally:
            app.close()
