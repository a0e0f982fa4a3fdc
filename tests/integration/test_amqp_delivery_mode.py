"""task_default_delivery_mode (and the per-call delivery_mode option) reach RabbitMQ."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.base import Delivery
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = pytest.mark.amqp


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("delivery_mode") as made:
        yield made


def _fetch_all(app: Celery, count: int) -> dict[str, Delivery]:
    channel = app.transport.channel()
    got: dict[str, Delivery] = {}
    deadline = time.monotonic() + 10
    try:
        while len(got) < count and time.monotonic() < deadline:
            batch = channel.fetch(["celery"], count, timeout=0.2)
            channel.ack(batch)
            got.update({d.message.headers["id"]: d for d in batch})
    finally:
        channel.close()
    return got


def test_transient_by_setting_persistent_by_option(vhost: Vhost) -> None:
    app = Celery("dm", broker=vhost.url, backend=f"cache+memory://{uuid.uuid4().hex}",
                 task_default_delivery_mode="transient")
    try:
        transient = app.send_task("proj.add", (1, 2)).id
        persistent = app.send_task("proj.add", (1, 2), delivery_mode="persistent").id
        numeric = app.send_task("proj.add", (1, 2), delivery_mode=2).id
        got = _fetch_all(app, 3)
    finally:
        app.close()  # an app nobody holds is collected: its sockets must be closed first
    modes = {task_id: got[task_id].message.properties["delivery_mode"]
             for task_id in (transient, persistent, numeric)}
    assert modes == {transient: 1, persistent: 2, numeric: 2}


def test_a_bad_delivery_mode_is_refused(vhost: Vhost) -> None:
    app = Celery("dm", broker=vhost.url, backend=f"cache+memory://{uuid.uuid4().hex}",
                 task_default_delivery_mode="durable")
    try:
        with pytest.raises(ImproperlyConfigured, match="persistent"):
            app.send_task("proj.add", (1, 2))
    finally:
        app.close()
