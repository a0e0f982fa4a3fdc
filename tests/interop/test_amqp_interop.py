"""Interop with real Celery 5.7 over RabbitMQ, in a vhost of its own.

(a) A real Celery client (``pyamqp://``) publishes; celeriac's AMQP channel fetches the
    messages and decodes them exactly; celeriac's ``RpcBackend`` answers on the message's
    ``reply_to`` and Celery's own ``AsyncResult.get`` (``rpc://``) reads the results.
(b) celeriac's channel publishes ``build_v2`` messages that a real ``celery worker -P solo``
    subprocess executes; its ``rpc://`` results are read by celeriac's ``RpcBackend``.

Covered both ways: plain calls, ``send_task``, failures, countdown, msgpack + zlib, priorities.
Both sides declare their queues with ``x-max-priority: 10`` (``task_queue_max_priority``), as
two workers sharing a queue must.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from celeriac.backends.rpc import RpcBackend
from celeriac.config.frozen import BackendOptions, TransportOptions
from celeriac.config.transport_keys import AmqpTransportOptions
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.protocol.task_message import build_v2, decode_body, parse_eta
from celeriac.transport.amqp import AmqpChannel, AmqpTransport
from celeriac.transport.base import Delivery, Outbound
from tests.helpers import WorkerProcess, import_app_module, unique_name
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost
from tests.integration.celery_worker import WAKEUP, celery_worker

celery = pytest.importorskip("celery")
pytest.importorskip("msgpack")

pytestmark = [pytest.mark.amqp, pytest.mark.slow]
TO_CELERIAC = "interop.to_celeriac"
TO_CELERY = "interop.to_celery"
ACCEPT = frozenset({"json", "msgpack"})

TASKS = """
import time
from celery import Celery

app = Celery("{name}", broker="{broker}", backend="rpc://")
app.conf.accept_content = ["json", "msgpack"]
app.conf.task_queue_max_priority = 10
app.conf.broker_connection_retry_on_startup = True


@app.task(name="interop.add")
def add(x, y):
    return x + y


@app.task(name="interop.boom")
def boom(message):
    raise ValueError(message)


@app.task(name="interop.stamp")
def stamp():
    return time.time()


@app.task(name="interop.priority", bind=True)
def priority(self):
    return self.request.delivery_info.get("priority")
"""


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("interop") as made:
        yield made


@pytest.fixture(scope="module")
def celery_module(vhost: Vhost, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("amqp_interop")
    name = unique_name("amqp_interop")
    (directory / f"{name}.py").write_text(TASKS.format(name=name, broker=vhost.url) + WAKEUP)
    return directory, name


@pytest.fixture(scope="module")
def channel(vhost: Vhost) -> Iterator[AmqpChannel]:
    transport = AmqpTransport.from_url(
        vhost.url, TransportOptions(amqp=AmqpTransportOptions(queue_max_priority=10))
    )
    yield transport.channel()
    transport.close()


@pytest.fixture(scope="module")
def rpc(vhost: Vhost) -> Iterator[RpcBackend]:
    backend = RpcBackend.from_url("rpc://", BackendOptions(), broker_url=vhost.url)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def celery_client(celery_module: tuple[Path, str]) -> Iterator[Any]:
    directory, name = celery_module
    module: Any = import_app_module(directory, name)
    module.app.conf.task_default_queue = TO_CELERIAC
    yield module
    module.app.close()


def _one(channel: AmqpChannel) -> Delivery:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = channel.fetch([TO_CELERIAC], 1, timeout=0.2)
        if got:
            channel.ack(got)
            return got[0]
    raise AssertionError("no message from the Celery client")


# -- (a) Celery client -> celeriac channel, results back through Celery's rpc:// -------------
def test_celery_client_to_celeriac(
    channel: AmqpChannel, rpc: RpcBackend, celery_client: Any
) -> None:
    channel.declare([TO_CELERIAC])
    sent = celery_client.add.delay(2, 3)
    delivery = _one(channel)
    message = delivery.message
    assert message.headers["task"] == "interop.add" and message.headers["id"] == sent.id
    assert message.headers["shadow"] is None and message.headers["eta"] is None
    assert message.properties["correlation_id"] == sent.id
    assert message.properties["delivery_mode"] == 2 and message.properties["priority"] == 0
    assert message.content_type == "application/json"
    body = decode_body(message, ACCEPT)
    assert (body.args, body.kwargs, body.chain) == ([2, 3], {}, None)
    reply_to = message.properties["reply_to"]
    rpc.store_reply(reply_to, ResultMeta(sent.id, states.SUCCESS, 5, date_done=now_iso()))
    assert sent.get(timeout=10) == 5


def test_celery_send_task_failure_countdown(
    channel: AmqpChannel, rpc: RpcBackend, celery_client: Any
) -> None:
    failing = celery_client.app.send_task("interop.boom", ("nope",))
    delivery = _one(channel)
    assert delivery.message.headers["task"] == "interop.boom"
    assert decode_body(delivery.message, ACCEPT).args == ["nope"]
    meta = ResultMeta(failing.id, states.FAILURE, encode_exception(ValueError("nope")),
                      traceback="Traceback ...", date_done=now_iso())  # fmt: skip
    rpc.store_reply(delivery.message.properties["reply_to"], meta)
    with pytest.raises(ValueError, match="nope"):
        failing.get(timeout=10)
    before = time.time()
    celery_client.add.apply_async((1, 1), countdown=30)
    eta = parse_eta(_one(channel).message.headers["eta"])
    assert eta is not None and before + 29 <= eta <= time.time() + 31


def test_celery_msgpack_zlib_and_priority(channel: AmqpChannel, celery_client: Any) -> None:
    celery_client.add.apply_async((2, 3), serializer="msgpack", compression="zlib", priority=7)
    message = _one(channel).message
    assert message.content_type == "application/x-msgpack"
    assert message.headers["compression"] == "application/x-gzip"
    assert message.properties["priority"] == 7
    assert decode_body(message, ACCEPT).args == [2, 3]


# -- (b) celeriac channel -> real Celery worker, results through celeriac's rpc:// ----------
@pytest.fixture(scope="module")
def worker(celery_module: tuple[Path, str], channel: AmqpChannel) -> Iterator[WorkerProcess]:
    channel.declare([TO_CELERY])
    directory, name = celery_module
    with celery_worker(directory, name, TO_CELERY, "-c", "1") as process:
        yield process


def _send(channel: AmqpChannel, rpc: RpcBackend, task: str, args: tuple[Any, ...],
          not_before: float | None = None, **options: Any) -> str:  # fmt: skip
    task_id = str(uuid.uuid4())
    rpc.on_task_call(task_id)
    message = build_v2(task_name=task, task_id=task_id, args=args, kwargs={},
                       origin="celeriac@test", reply_to=rpc.oid, **options)  # fmt: skip
    channel.publish([Outbound(message, TO_CELERY, not_before=not_before)])
    return task_id


def test_celeriac_to_celery_worker(
    channel: AmqpChannel, rpc: RpcBackend, worker: WorkerProcess
) -> None:
    add = _send(channel, rpc, "interop.add", (2, 3))
    assert rpc.wait(add, timeout=30).result == 5
    boom = _send(channel, rpc, "interop.boom", ("bad",))
    failed = rpc.wait(boom, timeout=30)
    assert failed.status == states.FAILURE and failed.result["exc_type"] == "ValueError"
    packed = _send(channel, rpc, "interop.add", (20, 22), serializer="msgpack",
                   compression="zlib", priority=7)  # fmt: skip
    assert rpc.wait(packed, timeout=30).result == 42
    prio = _send(channel, rpc, "interop.priority", (), priority=7)
    assert rpc.wait(prio, timeout=30).result == 7


def test_celeriac_countdown_through_delay_bucket_to_celery(
    channel: AmqpChannel, rpc: RpcBackend, worker: WorkerProcess
) -> None:
    eta = time.time() + 2.0  # over MIN_DELAY (1 s): published to the 1 s delay bucket
    when = datetime.fromtimestamp(eta, UTC)
    stamp = _send(channel, rpc, "interop.stamp", (), not_before=eta, eta=when)
    ran_at = rpc.wait(stamp, timeout=30).result
    assert ran_at >= eta - 0.01  # Celery held it until its ETA, never earlier
