"""RabbitMQ restarting its application (``stop_app``/``start_app``) under a running worker.

While a client publishes a stream of tasks and a ``celeriac worker`` consumes them, the broker
application stops and starts again (every connection drops; the node refuses connections in
between; durable queues and persistent messages survive). Every task whose ``delay()``
returned (RabbitMQ confirmed it) must run, and the worker must resume consuming on its own.
A ``delay()`` that raised during the outage was never confirmed and is not counted.

The same at channel level (confirmed batch, consumer mid-drain, restart, the rest arrives).
Both run on one private node (``amqp_private_node.py``): the shared broker is never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import OperationalError
from celeriac.transport.amqp import AmqpTransport
from celeriac.transport.base import Outbound
from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.amqp_private_node import PrivateNode, private_rabbitmq
from tests.integration.test_amqp_transport import _drain, _task

pytestmark = [pytest.mark.amqp, pytest.mark.slow]

APP = """
from celeriac import Celery

app = Celery({name!r}, broker={broker!r})
app.conf.task_default_queue = {queue!r}
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_prefetch_multiplier = 1


@app.task(name="restart.log", ignore_result=True)
def log(path, value):
    with open(path, "a") as fh:
        fh.write(str(value) + "\\n")
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


class Stream:
    """Publishes ``log(path, n)`` for n = 0, 1, ... on a thread until stopped."""

    def __init__(self, client: Any, path: Path) -> None:
        self.client, self.path = client, path
        self.confirmed: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restart-publisher")

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self.client.log.delay(str(self.path), n)
            except OperationalError:
                self.failed.append(str(n))  # not confirmed: may or may not run
                time.sleep(0.2)
            else:
                self.confirmed.append(str(n))
                time.sleep(0.005)
            n += 1

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNode]:
    with private_rabbitmq(tmp_path_factory.mktemp("rabbit")) as made:
        yield made


def test_channel_resumes_after_restart(node: PrivateNode) -> None:
    transport = AmqpTransport.from_url(node.url, TransportOptions())
    producer, worker = transport.channel(), transport.channel()
    queue = unique_name("restart")
    batch = [_task(n) for n in range(100)]
    producer.publish([Outbound(m, queue) for m in batch])  # confirmed: on disk
    ids = {str(m.task_id) for m in batch}
    seen = {str(d.message.task_id) for d in _drain(worker, [queue], 30)}
    node.ctl("stop_app")
    try:
        with pytest.raises(OperationalError):
            AmqpTransport.from_url(
                node.url, TransportOptions(connect_timeout=0.5, connection_max_retries=0)
            ).channel().size(queue)
    finally:
        node.ctl("start_app")
    deadline = time.monotonic() + 60
    while seen != ids and time.monotonic() < deadline:
        got = worker.fetch([queue], 10, timeout=0.5)
        worker.ack(got)
        seen.update(str(d.message.task_id) for d in got)
    assert seen == ids
    producer.publish([Outbound(_task(1), queue)])
    assert len(_drain(worker, [queue], 1)) == 1
    transport.close()


def test_worker_loses_no_confirmed_task(node: PrivateNode, tmp_path: Path) -> None:
    queue = unique_name("restart")
    module = unique_name("amqp_restart")
    (tmp_path / f"{module}.py").write_text(
        APP.format(name=module, broker=node.url, queue=queue)
    )
    client: Any = import_app_module(tmp_path, module)
    path = tmp_path / f"{queue}.txt"
    try:
        with running_worker(tmp_path, "-A", module, "worker", "-P", "solo", "-Q", queue,
                            "-l", "info", name=f"celeriac-{module}") as worker:  # fmt: skip
            with Stream(client, path) as stream:
                wait_until(lambda: len(_lines(path)) >= 50, 30,
                           message="the worker consuming")  # fmt: skip
                node.ctl("stop_app")
                down_at = len(stream.confirmed)
                time.sleep(1.0)  # publishes fail meanwhile; the worker keeps retrying
                node.ctl("start_app")
                wait_until(lambda: len(stream.confirmed) >= down_at + 100, 60,
                           message="publishing to resume")  # fmt: skip
            wait_until(lambda: set(stream.confirmed) <= set(_lines(path)), 60,
                       message="every confirmed task to run")  # fmt: skip
            client.log.delay(str(path), "after")
            wait_until(lambda: "after" in _lines(path), 30, message="a task after")
            assert worker.process.poll() is None
            log = worker.log()
            assert "re-established" in log or "reconnect" in log
    finally:
        client.app.close()
