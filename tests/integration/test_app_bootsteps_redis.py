"""User bootsteps, raw publishing and ``app.control.purge()`` with a real worker on Redis (db 12).

A worker step (``app.steps['worker']``) and a consumer step (``app.steps['consumer']``) are
declared as Celery's "Extensions and Bootsteps" guide shows (kombu's ``Consumer``, ``Queue``
and ``Exchange`` imported from celeriac instead); the consumer step consumes a queue of its
own on the worker's broker, fed from this process the guide's way
(``app.producer_or_acquire()``, ``exchange=my_queue.exchange``, ``declare=[my_queue]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, Exchange, Queue
from tests.helpers import flushed_redis, running_worker, unique_name, wait_until, write_module
from tests.suite_redis import suite_redis_url

pytestmark = [pytest.mark.redis, pytest.mark.slow]
URL = suite_redis_url(12)

APP_SOURCE = """
import json, os
import click
from celeriac import Celery, Exchange, Queue, bootsteps
from celeriac.bootsteps import Consumer

app = Celery({name!r}, broker={url!r})
app.conf.task_default_queue = {queue!r}
HERE = os.path.dirname(os.path.abspath(__file__))


def note(line):
    with open(os.path.join(HERE, "steps.txt"), "a") as fh:
        fh.write(line + "\\n")


app.user_options["worker"].add(click.Option(["--greeting"], default="none"))


class Recorder(bootsteps.StartStopStep):
    requires = {{"celery.worker.components:Pool"}}

    def __init__(self, parent, greeting="unset", **kwargs):
        note("init " + type(parent).__name__ + " " + greeting + " " + kwargs["pool"])

    def start(self, parent):
        note("worker-start " + parent.hostname)

    def stop(self, parent):
        note("worker-stop")


my_queue = Queue({custom!r}, Exchange({custom!r}), "routing_key")


class CustomConsumer(bootsteps.ConsumerStep):
    def get_consumers(self, channel):
        return [Consumer(channel, queues=[my_queue], callbacks=[self.handle_message],
                         accept=["json"])]

    def handle_message(self, body, message):
        note("got " + json.dumps(body, sort_keys=True))
        message.ack()


app.steps["worker"].add(Recorder)
app.steps["consumer"].add(CustomConsumer)


@app.task
def record(n):
    note("ran %d" % n)
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str, str, str]]:
    name, queue, custom = unique_name("steps"), unique_name("q"), unique_name("custom")
    write_module(tmp_path, name, APP_SOURCE.format(name=name, url=URL, queue=queue,
                                                   custom=custom))
    with flushed_redis(URL):
        yield tmp_path, name, queue, custom


def _lines(directory: Path) -> list[str]:
    path = directory / "steps.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_worker_and_consumer_steps_run_in_a_real_worker(
        project: tuple[Path, str, str, str]) -> None:
    workdir, name, queue, custom = project
    client = Celery("client", broker=URL, set_as_current=False)
    client.conf.task_default_queue = queue
    try:
        with running_worker(workdir, "-A", name, "worker", "-P", "solo", "-c", "1",
                            "-n", f"{name}@host", "--greeting", "hello") as worker:
            wait_until(lambda: f"worker-start {name}@host" in _lines(workdir), timeout=30)
            with client.connection() as conn:
                conn.ensure_connection(max_retries=3)
            my_queue = Queue(custom, Exchange(custom), "routing_key")
            with client.producer_or_acquire() as producer:
                producer.publish({"hello": "step", "n": 1}, serializer="json",
                                 exchange=my_queue.exchange, routing_key="routing_key",
                                 declare=[my_queue], retry=True)
            wait_until(lambda: any(line.startswith("got") for line in _lines(workdir)),
                       timeout=30)
            assert worker.stop() == 0
        lines = _lines(workdir)
        assert lines[0] == "init Worker hello solo"  # user option and worker options
        assert "got " + json.dumps({"hello": "step", "n": 1}, sort_keys=True) in lines
        assert lines[-1] == "worker-stop"
        with client.connection() as conn:  # acknowledged: nothing left on the custom queue
            assert conn.default_channel.size(custom) == 0
    finally:
        client.close()


def test_purged_tasks_never_reach_a_worker(project: tuple[Path, str, str, str]) -> None:
    workdir, name, queue, _ = project
    client = Celery("client", broker=URL, set_as_current=False)
    client.conf.task_default_queue = queue
    try:
        for n in range(3):
            client.send_task(f"{name}.record", (n,))
        assert client.control.purge() == 3
        assert _queue_size(client, queue) == 0
        client.send_task(f"{name}.record", (99,))
        with running_worker(workdir, "-A", name, "worker", "-P", "solo", "-c", "1",
                            "-n", f"{name}@p") as worker:
            wait_until(lambda: "ran 99" in _lines(workdir), timeout=30)
            assert worker.stop() == 0
        assert [line for line in _lines(workdir) if line.startswith("ran")] == ["ran 99"]
    finally:
        client.close()


def _queue_size(app: Any, queue: str) -> int:
    with app.connection() as conn:
        return int(conn.default_channel.size(queue))
