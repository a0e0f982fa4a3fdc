"""What a ``before_task_publish`` receiver adds to ``headers`` is in the message every broker
delivers (OpenTelemetry's Celery instrumentation injects its trace context there)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, signals
from celeriac.transport.base import Delivery
from tests.integration.amqp_vhost import rabbitmq_vhost
from tests.integration.redis_server import private_redis


@contextmanager
def broker_url(kind: str, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if kind == "sqlite":
            yield f"sqlite:///{tmp_path / 'broker.db'}"
        elif kind == "redis":
            yield stack.enter_context(private_redis(tmp_path / "redis")).url(0)
        else:
            yield stack.enter_context(rabbitmq_vhost("headers")).url


def fetch_one(app: Celery, queue: str) -> Delivery:
    channel = app.transport.channel()
    try:
        channel.declare([queue])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            deliveries = channel.fetch([queue], 1, 0.5)
            if deliveries:
                channel.ack(deliveries)
                return deliveries[0]
        raise AssertionError("no message arrived")
    finally:
        channel.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "amqp"])
def test_headers_added_before_publish_are_delivered(kind: str, tmp_path: Path) -> None:
    def inject(headers: dict[str, Any], properties: dict[str, Any], **_: Any) -> None:
        headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    signals.before_task_publish.connect(inject, weak=False)
    try:
        with broker_url(kind, tmp_path) as url:
            app = Celery("headers", broker=url)
            try:
                channel = app.transport.channel()
                channel.declare(["traced"])
                channel.close()
                result = app.send_task("proj.traced", queue="traced")
                delivery = fetch_one(app, "traced")
            finally:
                app.close()
    finally:
        signals.before_task_publish.disconnect(inject)
    assert delivery.message.headers["id"] == result.id
    assert delivery.message.headers["traceparent"].startswith("00-0af7651916cd43dd")
