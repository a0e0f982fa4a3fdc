"""``broker_connection_timeout`` bounds each connect to the broker, for every network broker.

A guard (it was already honoured): the settings meta-test counts it as acted on, and this
keeps it so. Building a transport does no I/O, so no server is needed.
"""

from __future__ import annotations

from celeriac import Celery
from celeriac.clients.amqp import parse_url as parse_amqp
from tests.helpers import unique_name


def test_redis_broker_client_uses_broker_connection_timeout() -> None:
    app = Celery(unique_name("connect_timeout"), broker="redis://127.0.0.1:6399/0")
    app.conf.broker_connection_timeout = 1.5
    try:
        pool = app.transport.client.connection_pool  # type: ignore[attr-defined]
        assert pool.connection_kwargs["socket_connect_timeout"] == 1.5
    finally:
        app.close()


def test_amqp_connect_uses_broker_connection_timeout() -> None:
    app = Celery(unique_name("connect_timeout"), broker="amqp://guest:guest@127.0.0.1:5699//")
    app.conf.broker_connection_timeout = 2.5
    try:
        params = parse_amqp(app.broker_url, connect_timeout=app.transport_options.connect_timeout)
        assert params.connect_timeout == 2.5
    finally:
        app.close()
