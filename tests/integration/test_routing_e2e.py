"""Topic and fanout routing with real workers, the same on RabbitMQ, Redis and SQLite.

One configuration (``task_queues`` with a topic exchange ``tasks`` binding ``task.#`` and
``web.#``, a fanout exchange ``fan`` with two queues, ``task_routes``) and one sequence of
sends give the same result on every broker:

* a ``-Q web_tasks`` worker runs exactly the messages whose routing key matches ``web.#``;
* ``task.*`` messages wait in ``default``, a fanout message once in each of ``fan1``/``fan2``,
  and a key no binding takes is dropped (RabbitMQ drops unroutable messages too);
* a second worker started with ``-X web_tasks`` (no ``-Q``: every ``task_queues`` queue but
  the excluded one) runs the rest.

On Redis a Celery 5.7 client with the same configuration routes into the same queues through
the binding rows celeriac wrote (kombu's ``_kombu.binding.<exchange>`` layout). RabbitMQ runs
in a vhost of its own; Redis uses db 4 under a key prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import (
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.amqp_vhost import rabbitmq_vhost
from tests.suite_redis import require_suite_redis, suite_redis_url

pytestmark = pytest.mark.slow
REDIS_URL = suite_redis_url(4)
TIMEOUT = 30.0

APP = """
from {package} import Celery
from {entities} import Exchange, Queue

app = Celery({name!r}, broker={broker!r})
app.conf.broker_transport_options = {options!r}
tasks = Exchange("tasks", type="topic")
fan = Exchange("fan", type="fanout")
app.conf.task_queues = (
    Queue("default", tasks, routing_key="task.#"),
    Queue("web_tasks", tasks, routing_key="web.#"),
    Queue("fan1", fan),
    Queue("fan2", fan),
)
app.conf.task_default_queue = "default"
app.conf.task_default_exchange = "tasks"
app.conf.task_default_exchange_type = "topic"
app.conf.task_default_routing_key = "task.default"
app.conf.task_routes = {{"rt.web_*": {{"queue": "web_tasks", "routing_key": "web.routed"}}}}
app.conf.task_ignore_result = True


@app.task(name="rt.record")
def record(path, label):
    with open(path, "a") as fh:
        fh.write(label + "\\n")


@app.task(name="rt.web_page")
def web_page(path, label):
    with open(path, "a") as fh:
        fh.write(label + "\\n")
"""


@pytest.fixture(params=["amqp", "redis", "sqlite"])
def broker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(kind, URL, broker_transport_options), isolated per test and cleaned up."""
    kind = str(request.param)
    if kind == "amqp":
        with rabbitmq_vhost("routing") as vhost:
            yield kind, vhost.url, {}
    elif kind == "redis":
        require_suite_redis()
        prefix = f"celeriac_routing_{uuid.uuid4().hex[:8]}:"
        yield kind, REDIS_URL, {"global_keyprefix": prefix}
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        yield kind, f"sqlite:///{tmp_path / 'routing.db'}", {}


def _write(tmp_path: Path, package: str, entities: str, url: str, options: dict[str, str]) -> str:
    name = unique_name(f"routing_{package}")
    source = APP.format(package=package, entities=entities, name=name, broker=url,
                        options=options)  # fmt: skip
    (tmp_path / f"{name}.py").write_text(source)
    return name


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _sizes(app: Any, queues: list[str]) -> dict[str, int]:
    channel = app.transport.channel()
    try:
        return {queue: channel.size(queue) for queue in queues}
    finally:
        channel.close()


def test_topic_and_fanout_route_alike_on_every_broker(
    broker: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    kind, url, options = broker
    module = _write(tmp_path, "celeriac", "celeriac", url, options)
    client: Any = import_app_module(tmp_path, module)
    runs = str(tmp_path / "web.txt")
    record: Callable[..., Any] = client.record.apply_async
    try:
        record((runs, "t1"), routing_key="task.add")  # -> default
        record((runs, "w1"), routing_key="web.video")  # -> web_tasks
        record((runs, "w2"), queue="web_tasks", routing_key="web.a.b")  # -> web_tasks
        client.web_page.delay(runs, "w3")  # task_routes -> web_tasks, key web.routed
        record((runs, "x1"), routing_key="mail.send")  # no binding takes it: dropped
        client.record.delay(runs, "t2")  # default queue: exchange tasks, key task.#
        record((runs, "f"), queue="fan1")  # fanout: one copy in fan1, one in fan2
        expected_web = ["w1", "w2", "w3"]
        if kind == "redis":
            expected_web.append(_celery_sends_on_redis(tmp_path, url, options, runs))
        assert _sizes(client.app, ["default", "web_tasks", "fan1", "fan2"]) == {
            "default": 2, "web_tasks": len(expected_web), "fan1": 1, "fan2": 1,
        }  # fmt: skip
        args = ("-A", module, "worker", "-P", "threads", "-c", "2", "-l", "info")
        with running_worker(tmp_path, *args, "-Q", "web_tasks", name="web"):
            wait_until(lambda: sorted(_lines(Path(runs))) == sorted(expected_web), TIMEOUT,
                       message="the web_tasks worker to run the web.# messages")  # fmt: skip
            record((runs, "w9"), routing_key="web.last")  # FIFO: everything before is done
            wait_until(lambda: "w9" in _lines(Path(runs)), TIMEOUT, message="the last web task")
        assert sorted(_lines(Path(runs))) == sorted([*expected_web, "w9"])
        rest = str(tmp_path / "rest.txt")
        record((rest, "t3"), routing_key="task.more")
        everything = sorted([*expected_web, "w9", "t1", "t2", "f", "f"])
        with running_worker(tmp_path, *args, "-X", "web_tasks", name="rest"):
            wait_until(lambda: len(_lines(Path(rest))) == 1, TIMEOUT, message="rest worker")
            wait_until(lambda: len(_lines(Path(runs))) == len(everything), TIMEOUT,
                       message="default and both fanout queues drained")  # fmt: skip
        assert sorted(_lines(Path(runs))) == everything
    finally:
        client.app.close()


def _celery_sends_on_redis(tmp_path: Path, url: str, options: dict[str, str], runs: str) -> str:
    """A Celery client on the same Redis routes through the rows celeriac declared."""
    kombu_exchange: Any = importlib.import_module("kombu.transport.virtual.exchange")
    prefix = options["global_keyprefix"]
    client = redis.Redis.from_url(url)
    try:
        members = _members(client, f"{prefix}_kombu.binding.tasks")
        pattern = kombu_exchange.TopicExchange(None).key_to_pattern("web.#")
        assert "\x06\x16".join(("web.#", pattern, "web_tasks")) in members  # kombu's own row
        module = _write(tmp_path, "celery", "kombu", url, options)
        celery_client: Any = import_app_module(tmp_path, module)
        try:
            celery_client.record.apply_async((runs, "c1"), queue="web_tasks",
                                             routing_key="web.celery")  # fmt: skip
            celery_client.record.apply_async((runs, "cx"), exchange="tasks",
                                             routing_key="other.key")  # fmt: skip
        finally:
            celery_client.app.close()
        after = _members(client, f"{prefix}_kombu.binding.tasks")
        assert after == members  # Celery declared the very same rows
    finally:
        client.close()
    return "c1"


def _members(client: redis.Redis, key: str) -> set[str]:
    return {m.decode() if isinstance(m, bytes) else str(m) for m in client.smembers(key)}
