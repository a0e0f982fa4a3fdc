"""kombu-compatible ``Exchange``/``Queue`` value objects."""

from __future__ import annotations

import dataclasses

import pytest

from celeriac.exceptions import ImproperlyConfigured
from celeriac.routing import Binding, Exchange, Queue


def test_exchange_defaults_match_kombu() -> None:
    exchange = Exchange("tasks")
    assert (exchange.type, exchange.durable, exchange.auto_delete) == ("direct", True, False)
    assert Exchange("").is_default and not exchange.is_default
    with pytest.raises(ImproperlyConfigured, match="unknown type 'topik'"):
        Exchange("x", type="topik")


def test_values_are_frozen_and_hashable() -> None:
    queue = Queue("q", Exchange("x", arguments={"alternate-exchange": "ae"}), queue_arguments={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        queue.name = "other"  # type: ignore[misc]
    assert hash(queue) == hash(Queue("q", Exchange("x")))
    assert {queue: 1}[Queue("q", Exchange("x"))] == 1


def test_queue_positional_form_and_exchange_by_name() -> None:
    queue = Queue("web_tasks", "tasks", "web.#")
    assert queue.exchange == Exchange("tasks")
    assert queue.routing_key == "web.#"
    assert queue.durable and not queue.exclusive and not queue.auto_delete


def test_declare_arguments_like_kombu() -> None:
    queue = Queue(
        "q",
        queue_arguments={"x-queue-type": "quorum"},
        expires=10,
        message_ttl=1.5,
        max_length=100,
        max_priority=9,
    )
    assert queue.declare_arguments() == {
        "x-queue-type": "quorum",
        "x-expires": 10_000,
        "x-message-ttl": 1500,
        "x-max-length": 100,
        "x-max-priority": 9,
    }
    assert queue.queue_type == "quorum"
    assert Queue("plain").declare_arguments() == {} and Queue("plain").queue_type == "classic"


def test_missing_queue_is_celerys_auto_declaration() -> None:
    queue = Queue.missing("video")
    assert queue == Queue("video", Exchange("video", "direct"), "video")
    [binding] = queue.all_bindings()
    assert binding == Binding(Exchange("video"), "video")


def test_with_defaults_fills_like_celery_queues() -> None:
    default = Exchange("celery")
    filled = Queue("q").with_defaults(default, "celery")
    assert filled.exchange == default and filled.routing_key == "celery"
    own = Queue("q", Exchange("mine", "topic"), "a.#").with_defaults(default, "celery")
    assert own.exchange == Exchange("mine", "topic") and own.routing_key == "a.#"


def test_from_dict_celery_forms() -> None:
    queue = Queue.from_dict(
        "web_tasks",
        {"exchange": "tasks", "exchange_type": "topic", "routing_key": "x", "binding_key": "web.#"},
    )
    assert queue.exchange == Exchange("tasks", "topic")
    assert queue.routing_key == "web.#"
    plain = Queue.from_dict("q", {})
    assert plain.exchange is None and plain.all_bindings() == []


def test_extra_bindings_follow_the_main_one() -> None:
    queue = Queue(
        "multi",
        Exchange("a", "topic"),
        "x.#",
        bindings=[Binding(Exchange("b", "fanout"))],  # type: ignore[arg-type]
    )
    assert [(b.exchange.name, b.routing_key) for b in queue.all_bindings()] == [
        ("a", "x.#"),
        ("b", ""),
    ]
