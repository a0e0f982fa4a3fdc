"""Exchange-type matching as RabbitMQ does it, and where kombu's Redis emulation differs."""

from __future__ import annotations

import pytest

from celeriac.exceptions import ImproperlyConfigured
from celeriac.routing import kombu_topic_matches, matches, route


@pytest.mark.parametrize(
    ("binding", "key", "expected"),
    [
        ("task.#", "task.add", True),
        ("task.#", "task.math.add", True),
        ("task.#", "task", True),  # '#' matches zero words
        ("task.#", "web.task", False),
        ("web.#", "web.page.render", True),
        ("web.#", "webx.page", False),
        ("*.x", "a.x", True),
        ("*.x", "x", False),  # '*' is exactly one word
        ("*.x", "a.b.x", False),
        ("#.x", "x", True),
        ("#.x", "a.b.x", True),
        ("#", "", True),
        ("#", "anything.at.all", True),
        ("*", "", True),  # the empty key is one empty word (checked on RabbitMQ 3.10)
        ("*", "one", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a..c", True),  # empty words are words
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.b.d.c", True),
        ("a.#.#.c", "a.c", True),
        ("", "", True),
        ("", "a", False),
        ("a.b", "a.b", True),
        ("a.b", "a.b.", False),
    ],
)
def test_topic_like_rabbitmq(binding: str, key: str, expected: bool) -> None:
    assert matches(binding, key, "topic") is expected


def test_direct_and_fanout() -> None:
    assert matches("celery", "celery", "direct")
    assert not matches("celery", "celery.x", "direct")
    assert not matches("web.#", "web.x", "direct")  # no wildcards on direct exchanges
    assert matches("", "whatever", "fanout")


def test_headers_exchange_cannot_be_emulated() -> None:
    with pytest.raises(ImproperlyConfigured, match="headers"):
        matches("", "k", "headers")


def test_route_returns_each_queue_once_in_binding_order() -> None:
    bindings = [("web.#", "web_tasks"), ("task.#", "all"), ("#", "all"), ("*.render", "render")]
    assert route(bindings, "web.render", "topic") == ["web_tasks", "all", "render"]
    assert route(bindings, "task.add", "topic") == ["all"]
    assert route(bindings, "x", "fanout") == ["web_tasks", "all", "render"]


@pytest.mark.parametrize(
    ("binding", "key"),
    [
        ("task.#", "task.add"),
        ("*.x", "a.x"),
        ("#", "a.b"),
        ("a.*.c", "a.b.c"),
        ("web.#", "web.a.b"),
    ],
)
def test_kombu_agrees_on_ordinary_keys(binding: str, key: str) -> None:
    assert kombu_topic_matches(binding, key) is matches(binding, key, "topic") is True


def test_kombu_differs_on_zero_word_hash() -> None:
    assert matches("task.#", "task", "topic")
    assert not kombu_topic_matches("task.#", "task")
    assert matches("#.x", "x", "topic") and not kombu_topic_matches("#.x", "x")
