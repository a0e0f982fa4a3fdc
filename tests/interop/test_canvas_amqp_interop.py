"""Canvas interop with real Celery 5.7 on RabbitMQ (a vhost of this module's own), both directions.

The broker is RabbitMQ; results go to Redis db 13 (Celery's ``rpc://`` backend cannot do chords).
A chain of three, ``a | b``, a group of five and a chord of five into a sum:

1. sent by a Celery client, run by a ``celeriac worker`` (Celery reads the results);
2. sent by a celeriac client, run by a ``celery worker -P solo`` (celeriac reads the results).

Each test routes through a queue of its own, so a leftover message of one direction can never be
run by the other direction's worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
)
from tests.integration.amqp_vhost import HOST, PORT, Vhost, rabbitmq_vhost
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.amqp, pytest.mark.redis, pytest.mark.slow]
RESULTS = suite_redis_url(13)
TIMEOUT = 20

APP = """
from {package} import Celery

app = Celery({name!r}, broker={broker!r}, backend={results!r})
app.conf.task_default_queue = {queue!r}
app.conf.broker_connection_retry_on_startup = True


@app.task(name="amqpcanvas.add")
def add(x, y):
    return x + y


@app.task(name="amqpcanvas.mul")
def mul(x, y):
    return x * y


@app.task(name="amqpcanvas.xsum")
def xsum(values):
    return sum(values)
"""


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("canvas") as made:
        yield made


@pytest.fixture
def broker(vhost: Vhost) -> str:
    return f"pyamqp://guest:guest@{HOST}:{PORT}/{vhost.name}"


@pytest.fixture
def results() -> Iterator[None]:
    """Redis db 13 of the suite's own server, empty before and after each test."""
    with flushed_redis(RESULTS):
        yield


def _write_app(workdir: Path, package: str, broker: str, queue: str) -> str:
    name = unique_name(f"amqp_canvas_{package}")
    source = APP.format(package=package, name=name, broker=broker, results=RESULTS, queue=queue)
    if package == "celery":
        source += WAKEUP
    (workdir / f"{name}.py").write_text(source)
    return name


def _workflows(app: Any, canvas: Any) -> None:
    """The four workflows, built with either library's canvas, checked through its results."""
    sig = app.signature
    chain_res = canvas.chain(sig("amqpcanvas.add", (1, 2)), sig("amqpcanvas.add", (3,)),
                             sig("amqpcanvas.mul", (10,))).apply_async()  # fmt: skip
    assert chain_res.get(timeout=TIMEOUT) == 60
    assert chain_res.parent.get(timeout=TIMEOUT) == 6
    assert chain_res.parent.parent.get(timeout=TIMEOUT) == 3
    pair = sig("amqpcanvas.add", (2, 2)) | sig("amqpcanvas.mul", (5,))
    assert pair.apply_async().get(timeout=TIMEOUT) == 20
    group_res = canvas.group(sig("amqpcanvas.add", (i, i)) for i in range(5)).apply_async()
    assert group_res.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8]
    chord_res = canvas.chord([sig("amqpcanvas.add", (i, i)) for i in range(5)],
                             sig("amqpcanvas.xsum")).apply_async()  # fmt: skip
    assert chord_res.get(timeout=TIMEOUT) == 20


def test_celery_client_celeriac_worker(tmp_path: Path, broker: str, results: None) -> None:
    queue = unique_name("canvas_to_celeriac")
    worker_module = _write_app(tmp_path, "celeriac", broker, queue)
    client_module: Any = import_app_module(tmp_path, _write_app(tmp_path, "celery", broker, queue))
    try:
        args = ("-A", worker_module, "worker", "-P", "threads", "-c", "4", "-Q", queue)
        with running_worker(tmp_path, *args, "-l", "info", name=f"celeriac-{worker_module}"):
            _workflows(client_module.app, celery)
    finally:
        client_module.app.close()


def test_celeriac_client_celery_worker(tmp_path: Path, broker: str, results: None) -> None:
    import celeriac.canvas as canvas

    queue = unique_name("canvas_to_celery")
    worker_module = _write_app(tmp_path, "celery", broker, queue)
    client_module: Any = import_app_module(
        tmp_path, _write_app(tmp_path, "celeriac", broker, queue)
    )
    try:
        with celery_worker(tmp_path, worker_module, queue):
            _workflows(client_module.app, canvas)
    finally:
        client_module.app.close()
