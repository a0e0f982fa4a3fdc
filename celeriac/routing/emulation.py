"""Which bindings a routing key reaches, per exchange type, as RabbitMQ decides it.

Brokers without exchanges (Redis, SQLite, memory) route at publish time: the sender asks
``route`` for the queues bound to an exchange whose binding keys match the routing key, then
writes the message to each. Following RabbitMQ's rules exactly means a topic-routed message
lands in the same queues on every broker.

Topic semantics (RabbitMQ's ``rabbit_exchange_type_topic``): keys are split on ``.`` into
words (``'a.'`` has two: ``'a'`` and ``''``; the empty key is one empty word, so ``*`` matches
it); ``*`` matches exactly one word and ``#`` zero or more. So ``'#.x'`` matches ``'x'``, and
``'a.#'`` matches ``'a'``. Each rule here was checked against RabbitMQ 3.10.

kombu's Redis emulation uses a regular expression instead (``kombu_topic_matches``); the two
agree on every key in practice except the zero-word ``#`` edge cases (kombu's ``'a.#'`` does not
match ``'a'``). A celeriac producer follows RabbitMQ; the kombu variant is here so a test can
show exactly where a Celery producer on Redis would differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from celeriac.exceptions import ImproperlyConfigured


def _words(key: str) -> tuple[str, ...]:
    return tuple(key.split("."))


@lru_cache(maxsize=4096)
def _topic_match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """Match word lists; memoized (patterns and keys repeat, and ``#`` can backtrack)."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # zero words, or swallow one and try again
        return _topic_match(rest, words) or (bool(words) and _topic_match(pattern, words[1:]))
    if not words:
        return False
    if head == "*" or head == words[0]:
        return _topic_match(rest, words[1:])
    return False


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """RabbitMQ's topic rule (see the module docstring)."""
    return _topic_match(_words(binding_key), _words(routing_key))


def matches(binding_key: str, routing_key: str, exchange_type: str) -> bool:
    """Whether a binding with ``binding_key`` on an exchange of ``exchange_type`` takes the key.

    ``headers`` exchanges match on message headers, not keys; they are not emulated.

    Raises:
        ImproperlyConfigured: ``exchange_type`` is not direct, topic or fanout.
    """
    if exchange_type == "direct":
        return binding_key == routing_key
    if exchange_type == "fanout":
        return True
    if exchange_type == "topic":
        return topic_matches(binding_key, routing_key)
    raise ImproperlyConfigured(
        f"Exchange type {exchange_type!r} cannot be emulated on this broker; "
        "use direct, topic or fanout (headers exchanges need RabbitMQ)."
    )


def route(bindings: Iterable[tuple[str, str]], routing_key: str, exchange_type: str) -> list[str]:
    """Queues whose ``(binding_key, queue)`` bindings match, each once, in binding order."""
    seen: dict[str, None] = {}
    for binding_key, queue in bindings:
        if queue not in seen and matches(binding_key, routing_key, exchange_type):
            seen[queue] = None
    return list(seen)


_KOMBU_WILDCARDS = {"*": r"[^\.]+", "#": r".*?"}


@lru_cache(maxsize=1024)
def _kombu_regex(binding_key: str) -> re.Pattern[str]:
    words = (_KOMBU_WILDCARDS.get(word, re.escape(word)) for word in binding_key.split("."))
    return re.compile("^" + r"\.".join(words) + "$")


def kombu_topic_matches(binding_key: str, routing_key: str) -> bool:
    """kombu's virtual-transport topic rule (``kombu.transport.virtual.exchange``)."""
    return _kombu_regex(binding_key).match(routing_key) is not None


__all__ = ["kombu_topic_matches", "matches", "route", "topic_matches"]
