"""A broker that answers "no" is not a broker that is down: the refusal is raised at once, as
``BrokerRefusedError`` with the cause, never retried and never blamed on a stopped broker.

Redis runs as a private ``redis-server`` (its limits are changed with ``CONFIG SET``); RabbitMQ
in a vhost of its own, with ``max_message_size`` lowered only while the test's publishing
channel opens (RabbitMQ reads it per channel, at open).
"""

from __future__ import annotations

import logging

import pytest

from celeriac import Celery
from celeriac.exceptions import BrokerRefusedError, OperationalError
from tests.helpers import require_service, unique_name
from tests.integration.amqp_vhost import rabbitmq_vhost, restore_env, set_env
from tests.integration.redis_server import RedisServer

BIG = "x" * 2_000_000  # over a 1 MiB limit


def echo_app(broker: str) -> tuple[Celery, object]:
    app = Celery(unique_name("refusals"), broker=broker)

    @app.task
    def echo(value: str) -> str:
        return value

    return app, echo


def assert_refused_once(exc: BrokerRefusedError, caplog: pytest.LogCaptureFixture,
                        cause: str) -> None:
    assert isinstance(exc, OperationalError)  # ``except OperationalError`` still catches it
    assert cause in str(exc)
    assert "Is the broker running" not in str(exc)
    assert "unreachable" not in str(exc)
    assert not [r for r in caplog.records if "Publish failed" in r.getMessage()], (
        "a refusal was retried")


@pytest.mark.redis
def test_redis_message_over_proto_max_bulk_len(server: RedisServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    server.client().config_set("proto-max-bulk-len", "1mb")
    app, echo = echo_app(server.url())
    try:
        echo.delay("small")  # type: ignore[attr-defined]
        caplog.set_level(logging.WARNING)
        with pytest.raises(BrokerRefusedError) as info:
            echo.delay(BIG)  # type: ignore[attr-defined]
        assert_refused_once(info.value, caplog, "proto-max-bulk-len")
        echo.delay("small again")  # type: ignore[attr-defined]  # the channel still works
    finally:
        app.close()


@pytest.mark.redis
def test_redis_out_of_memory(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    app, echo = echo_app(server.url())
    try:
        echo.delay("small")  # type: ignore[attr-defined]
        server.client().config_set("maxmemory", "1")
        caplog.set_level(logging.WARNING)
        with pytest.raises(BrokerRefusedError) as info:
            echo.delay("refused")  # type: ignore[attr-defined]
        assert_refused_once(info.value, caplog, "maxmemory")
    finally:
        app.close()


@pytest.mark.amqp
def test_rabbitmq_message_over_max_message_size(caplog: pytest.LogCaptureFixture) -> None:
    with rabbitmq_vhost("refusals") as vhost:
        app, echo = echo_app(vhost.url)
        try:
            previous = set_env("max_message_size", "1048576")
            try:
                echo.delay("small")  # type: ignore[attr-defined]  # opens the channel
            finally:
                restore_env("max_message_size", previous)
            caplog.set_level(logging.WARNING)
            with pytest.raises(BrokerRefusedError) as info:
                echo.delay(BIG)  # type: ignore[attr-defined]
            assert_refused_once(info.value, caplog, "max_message_size")
            echo.delay("small again")  # type: ignore[attr-defined]
        finally:
            app.close()


@pytest.mark.amqp
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("url", "cause"), [
    ("amqp://guest:not-the-password@127.0.0.1:5672//", "ACCESS_REFUSED"),
    (f"amqp://guest:guest@127.0.0.1:5672/{unique_name('no_such_vhost')}", "NOT_ALLOWED"),
], ids=["password", "vhost"])
def test_rabbitmq_login_refusal(url: str, cause: str, caplog: pytest.LogCaptureFixture) -> None:
    """A refused login is reported at once (before, a missing vhost was retried for minutes).

    Nothing is created on the shared server: the connection is refused before any command.
    """
    require_service("RabbitMQ", "127.0.0.1", 5672)
    app, echo = echo_app(url)
    try:
        caplog.set_level(logging.WARNING)
        with pytest.raises(BrokerRefusedError) as info:
            echo.delay("refused")  # type: ignore[attr-defined]
        assert_refused_once(info.value, caplog, cause)
    finally:
        app.close()
