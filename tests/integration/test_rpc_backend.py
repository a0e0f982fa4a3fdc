"""The ``rpc://`` result store against the real RabbitMQ, in a vhost of its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import amqp  # type: ignore[import-untyped]  # py-amqp ships no type information
import pytest

from celeriac import states
from celeriac.backends import resolve_backend
from celeriac.backends.rpc import ResultUnavailable, RpcBackend
from celeriac.config.frozen import BackendOptions
from celeriac.config.transport_keys import RpcStoreOptions
from celeriac.exceptions import ImproperlyConfigured, TimeoutError
from celeriac.protocol.result_meta import ResultMeta, now_iso
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = pytest.mark.amqp


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("rpc") as made:
        yield made


@pytest.fixture
def backends(vhost: Vhost) -> Iterator[tuple[RpcBackend, RpcBackend]]:
    """(client, worker): two stores as two processes would have them."""
    options = BackendOptions(rpc=RpcStoreOptions(rpc_unknown_timeout=1.0))
    client = RpcBackend.from_url("rpc://", options, broker_url=vhost.url)
    worker = RpcBackend.from_url("rpc://", options, broker_url=vhost.url)
    yield client, worker
    client.close()
    worker.close()


def test_resolves_through_the_backend_aliases(vhost: Vhost) -> None:
    backend = resolve_backend("rpc://", BackendOptions(), broker_url=vhost.url)
    assert isinstance(backend, RpcBackend) and backend.persistent is False
    with pytest.raises(ImproperlyConfigured, match="needs a RabbitMQ broker"):
        resolve_backend("rpc://", BackendOptions(), broker_url="redis://localhost:6379/0")


def test_round_trip_latest_state_wins(
    vhost: Vhost, backends: tuple[RpcBackend, RpcBackend]
) -> None:
    client, worker = backends
    task_id = str(uuid.uuid4())
    client.on_task_call(task_id)  # declares the reply queue before the task would be sent
    worker.store_reply(client.oid, ResultMeta(task_id, states.STARTED, {"pid": 1}))
    worker.store_replies(
        [(client.oid, ResultMeta(task_id, states.SUCCESS, 5, date_done=now_iso()))]
    )
    meta = client.wait(task_id, timeout=10)
    assert (meta.status, meta.result, meta.task_id) == (states.SUCCESS, 5, task_id)
    assert client.get(task_id).status == states.SUCCESS
    assert client.get_many([task_id, "other"])[1].status == states.PENDING
    client.forget(task_id)
    assert client.get(task_id).status == states.PENDING


def test_reply_queue_and_message_look_like_celerys(
    vhost: Vhost, backends: tuple[RpcBackend, RpcBackend]
) -> None:
    client, worker = backends
    client.on_task_call()
    queues = vhost.ctl("list_queues", "-q", "--no-table-headers", "name", "durable", "auto_delete")
    assert f"{client.oid}\ttrue\ttrue" in queues.splitlines()
    assert "x-expires" in vhost.ctl("list_queues", "name", "arguments")
    # read the raw message with a plain AMQP client instead of the store
    conn = amqp.Connection("127.0.0.1:5672", virtual_host=vhost.name)
    conn.connect()
    try:
        ch = conn.channel()
        ch.queue_declare("peek", durable=False, auto_delete=False)
        task_id = str(uuid.uuid4())
        worker.store_reply("peek", ResultMeta(task_id, states.SUCCESS, [1, None]))
        raw = ch.basic_get("peek", no_ack=True)
    finally:
        conn.close()
    assert raw.properties["correlation_id"] == task_id
    assert raw.properties["delivery_mode"] == 1 and raw.properties["content_type"] == (
        "application/json"
    )
    body = json.loads(raw.body)
    assert body["status"] == "SUCCESS" and body["result"] == [1, None]
    assert body["task_id"] == task_id and "traceback" in body and "children" in body


def test_result_of_another_client_is_explained(backends: tuple[RpcBackend, RpcBackend]) -> None:
    client, worker = backends
    client.on_task_call(str(uuid.uuid4()))
    stranger = str(uuid.uuid4())
    worker.store_reply(worker.oid, ResultMeta(stranger, states.SUCCESS, 1))  # not our queue
    with pytest.raises(ResultUnavailable, match="only to the reply queue of the client"):
        client.wait(stranger, timeout=None)
    with pytest.raises(TimeoutError):
        client.wait(stranger, timeout=0.3)


def test_announced_task_times_out_plainly(backends: tuple[RpcBackend, RpcBackend]) -> None:
    client, _ = backends
    task_id = str(uuid.uuid4())
    client.on_task_call(task_id)
    with pytest.raises(TimeoutError) as info:
        client.wait(task_id, timeout=0.3)
    assert not isinstance(info.value, ResultUnavailable)
