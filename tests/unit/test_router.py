"""The task router against Celery 5.7's own: same settings and call options, same destination.

Celery's final ``(exchange, routing_key)`` and the queue it declares are read from its
``before_task_publish`` signal, with the in-memory kombu transport (no sockets).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import celery
import pytest
from celery.signals import before_task_publish

import celeriac
from celeriac.exceptions import QueueNotFound
from celeriac.routing.entities import Exchange, Queue
from celeriac.routing.queues import QueueSet, queue_set
from celeriac.transport.base import Outbound
from celeriac.transport.emulation import ExchangeTable, kombu_pattern, kombu_rows_route

Destination = tuple[str, str, list[tuple[str, str, str, str]]]
#: kombu ships no type hints; used here only to build Celery's side of each case.
kombu: Any = importlib.import_module("kombu")


def _celeriac_queues() -> tuple[Queue, ...]:
    tasks = Exchange("tasks", type="topic")
    return (
        Queue("default", tasks, routing_key="task.#"),
        Queue("web_tasks", tasks, routing_key="web.#"),
        Queue("plain"),
    )


def _celery_queues() -> tuple[Any, ...]:
    tasks = kombu.Exchange("tasks", type="topic")
    return (
        kombu.Queue("default", tasks, routing_key="task.#"),
        kombu.Queue("web_tasks", tasks, routing_key="web.#"),
        kombu.Queue("plain"),
    )


def _fn_router(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str]:
    return {"queue": "fromfn"}


#: (settings, call options); ``QUEUES`` stands for the three queues above in each library.
CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    ({"task_queues": "QUEUES"}, {}),
    ({"task_queues": "QUEUES", "task_default_queue": "default"}, {}),
    (
        {
            "task_queues": "QUEUES",
            "task_default_queue": "default",
            "task_default_exchange": "tasks",
            "task_default_exchange_type": "topic",
            "task_default_routing_key": "task.default",
        },
        {},
    ),
    ({"task_queues": "QUEUES"}, {"queue": "web_tasks"}),
    ({"task_queues": "QUEUES"}, {"queue": "web_tasks", "routing_key": "web.video"}),
    ({"task_queues": "QUEUES"}, {"queue": "plain"}),
    ({"task_queues": "QUEUES"}, {"routing_key": "web.video"}),
    ({"task_queues": "QUEUES"}, {"exchange": "tasks", "routing_key": "web.video"}),
    (
        {
            "task_queues": "QUEUES",
            "task_routes": {"t.*": {"queue": "web_tasks", "routing_key": "web.x"}},
        },
        {},
    ),
    (
        {
            "task_queues": "QUEUES",
            "task_routes": {"t.*": {"exchange": "tasks", "routing_key": "web.x"}},
        },
        {},
    ),
    ({"task_queues": "QUEUES", "task_routes": [{"t.add": "plain"}]}, {}),
    ({"task_queues": "QUEUES", "task_routes": {re.compile(r"t\..*"): "plain"}}, {}),
    ({"task_queues": "QUEUES", "task_routes": {"t.*": "plain"}}, {"queue": "web_tasks"}),
    ({"task_routes": [{"other": "x"}, {"t.add": {"queue": "second"}}]}, {}),
    (
        {"task_queues": {"dq": {"exchange": "fx", "exchange_type": "fanout", "binding_key": "b"}}},
        {"queue": "dq"},
    ),
    (
        {"task_queues": {"dq": {"exchange": "tx", "exchange_type": "topic", "binding_key": "b.#"}}},
        {"queue": "dq"},
    ),
    (
        {
            "CELERY_QUEUES": {
                "dq": {"exchange": "tx", "exchange_type": "topic", "routing_key": "b.#"}
            }
        },
        {"queue": "dq"},
    ),
    ({"task_queues": {"dq": {}}}, {}),
    ({"task_routes": _fn_router}, {}),
    ({"task_routes": (_fn_router,)}, {"queue": "explicit"}),
    ({"task_default_exchange_type": "topic"}, {}),
    ({"task_default_exchange_type": "topic"}, {"queue": "other"}),
    ({"task_create_missing_queue_exchange_type": "topic"}, {"queue": "other"}),
    ({"task_default_queue": "prioq"}, {}),
    ({"CELERY_ROUTES": {"t.add": {"queue": "old"}}}, {}),
]


def _translate(conf: dict[str, Any], library: str) -> dict[str, Any]:
    queues = _celery_queues() if library == "celery" else _celeriac_queues()
    return {k: (queues if v == "QUEUES" else v) for k, v in conf.items()}


@pytest.fixture
def celery_destination() -> Iterator[Callable[..., Destination | str]]:
    seen: list[Destination] = []

    def grab(
        sender: Any = None,
        exchange: Any = None,
        routing_key: Any = None,
        declare: Any = None,
        **kw: Any,
    ) -> None:
        name = exchange if isinstance(exchange, str) else exchange.name
        queues = [(q.name, q.exchange.name, q.exchange.type, q.routing_key) for q in declare or ()]
        seen.append((name, routing_key, queues))

    before_task_publish.connect(grab, weak=False)

    def run(conf: dict[str, Any], **options: Any) -> Destination | str:
        app = celery.Celery("routes", broker="memory://", set_as_current=False)
        app.conf.update(_translate(conf, "celery"))
        try:
            app.send_task("t.add", (1,), **options)
        except Exception as exc:
            return type(exc).__name__
        finally:
            app.close()
        return seen[-1]

    yield run
    before_task_publish.disconnect(grab)


def _celeriac_destination(conf: dict[str, Any], **options: Any) -> Destination | str:
    app = celeriac.Celery("routes", broker="memory://")
    app.conf.update(_translate(conf, "celeriac"))
    try:
        route = app.router.route("t.add", options)
    except QueueNotFound as exc:
        return type(exc).__name__
    entity = route.entity
    declared = []
    if entity is not None and entity.exchange_entity is not None:
        exchange = entity.exchange_entity
        declared.append((entity.name, exchange.name, exchange.type, entity.routing_key))
    return (route.exchange, route.routing_key, declared)


@pytest.mark.parametrize(("conf", "options"), CASES)
def test_same_destination_as_celery(
    conf: dict[str, Any],
    options: dict[str, Any],
    celery_destination: Callable[..., Destination | str],
) -> None:
    assert _celeriac_destination(conf, **options) == celery_destination(conf, **options)


def test_unknown_queue_raises_when_missing_queues_are_not_created(
    celery_destination: Callable[..., Destination | str],
) -> None:
    conf = {"task_queues": "QUEUES", "task_create_missing_queues": False}
    assert celery_destination(conf, queue="nope") == "QueueNotFound"
    assert _celeriac_destination(conf, queue="nope") == "QueueNotFound"
    app = celeriac.Celery("routes", broker="memory://")
    app.conf.update(_translate({**conf, "task_routes": {"t.add": "nope"}}, "celeriac"))
    with pytest.raises(KeyError, match="nope"):  # QueueNotFound is a KeyError, as in Celery
        app.router.route("t.add", {})


def test_route_priority_and_task_queue_attribute() -> None:
    app = celeriac.Celery("routes", broker="memory://")
    app.conf.task_routes = {"t.*": {"queue": "routed", "priority": 7}}
    route = app.router.route("t.add", {})
    assert (route.queue, route.priority) == ("routed", 7)
    # the task's own queue counts as a call option: it beats task_routes
    assert app.router.route("t.add", {}, task_queue="own").queue == "own"
    assert app.router.route("t.add", {"queue": "call"}, task_queue="own").queue == "call"


def test_old_style_router_class_with_route_for_task() -> None:
    class Legacy:
        def route_for_task(self, task: str, args: Any = None, kwargs: Any = None) -> Any:
            return {"queue": "legacy"} if task == "t.add" else None

    app = celeriac.Celery("routes", broker="memory://")
    app.conf.task_routes = (Legacy(),)
    assert app.router.route("t.add", {}).queue == "legacy"
    assert app.router.route("t.other", {}).queue == "celery"


def test_queue_set_defaults_and_consumed_queues() -> None:
    conf = {"task_queues": _celeriac_queues(), "task_queue_max_priority": 10}
    queues = queue_set(conf)
    assert queues.configured == ("default", "web_tasks", "plain")
    plain = queues["plain"]
    assert (plain.exchange_entity, plain.routing_key) == (Exchange("celery"), "celery")
    assert dict(plain.queue_arguments or {}) == {"x-max-priority": 10}
    assert queues.exchange_types() == {"tasks": "topic", "celery": "direct"}
    missing = queues["new"]
    assert (missing.exchange_entity, missing.routing_key) == (Exchange("new"), "new")
    assert "new" in queues and queues.configured == ("default", "web_tasks", "plain")
    quorum = QueueSet(None, default_queue="q", default_queue_type="quorum")
    assert dict(quorum["q"].queue_arguments or {}) == {"x-queue-type": "quorum"}


def test_kombu_pattern_matches_kombus_own() -> None:
    exchanges: Any = importlib.import_module("kombu.transport.virtual.exchange")
    topic = exchanges.TopicExchange(None)
    for key in ("web.#", "task.#", "a.*.b", "we_b.x-y", "#", "*", "", "ü.#"):
        assert kombu_pattern(key) == topic.key_to_pattern(key)


def test_kombu_rows_route_per_exchange_type() -> None:
    rows = [
        ("task.#", kombu_pattern("task.#"), "default"),
        ("web.#", kombu_pattern("web.#"), "web_tasks"),
    ]
    assert kombu_rows_route(rows, "web.video.hd", "topic") == ["web_tasks"]
    assert kombu_rows_route(rows, "task.add", "topic") == ["default"]
    assert kombu_rows_route(rows, "mail.send", "topic") == []
    assert sorted(kombu_rows_route(rows, "anything", "fanout")) == ["default", "web_tasks"]
    assert kombu_rows_route(rows, "web.#", "direct") == ["web_tasks"]


def test_exchange_table_expands_topic_and_fanout_copies() -> None:
    tasks = Exchange("tasks", type="topic")
    fan = Exchange("fan", type="fanout")
    table = ExchangeTable(
        [
            Queue("default", tasks, "task.#"),
            Queue("web_tasks", tasks, "web.#"),
            Queue("f1", fan),
            Queue("f2", fan),
        ]
    )
    from celeriac.protocol.task_message import build_v2

    msg = build_v2(task_name="t", task_id="1", args=(), kwargs={}, origin="o")
    batch = [
        Outbound(msg, "web.video", "tasks"),
        Outbound(msg, "task.x", "tasks"),
        Outbound(msg, "", "fan"),
        Outbound(msg, "direct_q"),
        Outbound(msg, "x", "unbound"),
    ]
    expanded = [(o.exchange, o.routing_key) for o in table.expand(batch)]
    assert expanded == [
        ("", "web_tasks"),
        ("", "default"),
        ("", "f1"),
        ("", "f2"),
        ("", "direct_q"),
        ("", "x"),
    ]
    assert table.route("tasks", "mail.send") == []
