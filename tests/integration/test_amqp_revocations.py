"""The RabbitMQ revocation store (``celeriac/transport/amqp/revocations.py``) on a real broker.

The worker-level proof (a revoke before the worker starts refuses the task) is in
``test_amqp_remote_control.py``; these check the store's own promises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial

import amqp  # type: ignore[import-untyped]
import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.control.revocations import open_revocation_store
from celeriac.transport.amqp import AmqpTransport
from celeriac.transport.amqp.revocations import STREAM, AmqpRevocationStore
from celeriac.worker.revoked import RevokedRegistry
from tests.helpers import wait_until
from tests.integration.amqp_vhost import HOST, PORT, Vhost, rabbitmq_vhost

pytestmark = [pytest.mark.amqp]


def _refreshed_with(registry: RevokedRegistry, *task_ids: str) -> bool:
    registry.refresh()
    return all(task_id in registry for task_id in task_ids)


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("revocations") as made:
        yield made


@pytest.fixture
def transport(vhost: Vhost) -> Iterator[AmqpTransport]:
    made = AmqpTransport.from_url(vhost.url, TransportOptions())
    yield made
    made.close()


def test_records_reach_readers_started_before_and_after(transport: AmqpTransport,
                                                        vhost: Vhost) -> None:
    client = open_revocation_store(transport)
    early = open_revocation_store(transport)
    assert isinstance(client, AmqpRevocationStore)
    try:
        registry = RevokedRegistry(early)
        assert registry.refresh() and "a" not in registry
        client.add(["a", "b"], 60)
        client.add(["gone"], -1)  # already expired: never loaded
        # A reader that has caught up once takes new records as they arrive (no sync per
        # refresh): running workers hear of a revoke by broadcast first anyway.
        wait_until(partial(_refreshed_with, registry, "a", "b"), 10, message="a and b read")
        assert "gone" not in registry
        late = open_revocation_store(transport)
        try:
            assert set(late.load()) == {"a", "b"}
        finally:
            late.close()
        assert STREAM in vhost.queues()
    finally:
        client.close()
        early.close()


def test_a_refused_stream_leaves_revocation_to_the_broadcast(
        transport: AmqpTransport, vhost: Vhost, caplog: pytest.LogCaptureFixture) -> None:
    """A classic queue already named celeriac.revoked: the stream declaration is refused."""
    connection = amqp.Connection(host=f"{HOST}:{PORT}", virtual_host=vhost.name)
    connection.connect()
    try:
        connection.channel().queue_declare(STREAM, durable=True, auto_delete=False)
    finally:
        connection.close()
    caplog.set_level(logging.WARNING)
    store = open_revocation_store(transport)
    try:
        store.add(["x"], 60)  # no error: the broadcast still goes out
        assert store.load() == {}
        store.add(["y"], 60)
        assert store.load() == {}
        warnings = [r for r in caplog.records if "Durable revocations unavailable" in r.message]
        assert len(warnings) == 1
    finally:
        store.close()
