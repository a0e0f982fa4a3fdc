"""Exchanges for brokers that have none (Redis, SQLite, memory): binding tables and routing.

A message published to a named exchange (``Outbound.exchange`` non-empty) is routed at
publish time, the way kombu's virtual transport does it: look up the exchange's bindings, keep
the queues whose binding key matches the routing key under the exchange's type, and write one
copy to each. Tasks for the default exchange (``exchange=''``, routing key = queue name, what
Celery sends for direct routes) never come here.

Where the bindings live:

* **SQLite and memory** (celeriac-only brokers): in this process's ``ExchangeTable``, built
  from ``task_queues`` (``TransportOptions.task_queues``) plus whatever the channel
  declared. Every process of one app shares the configuration, hence the same table; routing
  follows RabbitMQ's rules (``routing.emulation.matches``).
* **Redis**: in kombu's shared sets ``_kombu.binding.<exchange>``, members
  ``routing_key\\x06\\x16pattern\\x06\\x16queue`` (wire-protocol.md §2.1), so Celery and celeriac
  processes on one Redis see each other's bindings. ``pattern`` is kombu's regular expression
  for topic bindings (``^web\\..*?$`` for ``web.#``) and empty otherwise; routing matches it as
  kombu does (``kombu_rows_route``) so a Celery producer and a celeriac producer on the same
  Redis route a key to the same queues. kombu's regex and RabbitMQ differ only on zero-word
  ``#`` edge cases (``a.#`` does not take ``a`` on Redis).
* The exchange **type** is not stored on Redis (kombu keeps it in process memory, defaulting to
  direct); celeriac takes it from ``task_queues``, else direct, as kombu.

**Fanout to task queues**: kombu's Redis transport sends a fanout exchange's messages over
PUB/SUB, which suits broadcasts (remote control, events) but loses tasks nobody is subscribed
to. For task queues celeriac emulates fanout by writing a copy to every bound queue instead
(LPUSH on Redis), so each queue's worker gets its task reliably. A Celery producer publishing
to such a fanout exchange on Redis would still use PUB/SUB and not reach these queues.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from celeriac.routing.emulation import matches
from celeriac.routing.entities import Queue
from celeriac.transport.base import Outbound

logger = logging.getLogger(__name__)

#: (exchange, binding key, kombu pattern, queue) - one row of a binding table.
Row = tuple[str, str, str, str]

_KOMBU_WILDCARDS = {"*": r"[^\.]+", "#": r".*?"}


def _kombu_escape(key: str) -> str:
    """kombu's ``escape_regex(key, '.#*')``: every other non-alphanumeric gets a backslash."""
    return "".join(
        c if c.isalnum() or c in ".#*" else ("\\000" if c == "\000" else "\\" + c) for c in key
    )


def kombu_pattern(binding_key: str) -> str:
    """kombu's ``TopicExchange.key_to_pattern``: the regex stored in a Redis binding row."""
    words = _kombu_escape(binding_key).split(".")
    return "^{}$".format(r"\.".join(_KOMBU_WILDCARDS.get(w, w) for w in words))


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.U)


def binding_rows(queue: Queue) -> list[Row]:
    """Every binding of ``queue`` as a row, the topic ones with kombu's pattern."""
    rows = []
    for binding in queue.all_bindings():
        exchange = binding.exchange
        pattern = kombu_pattern(binding.routing_key) if exchange.type == "topic" else ""
        rows.append((exchange.name, binding.routing_key, pattern, queue.name))
    return rows


def kombu_rows_route(
    rows: Iterable[tuple[str, str, str]], routing_key: str, exchange_type: str
) -> list[str]:
    """Queues of ``(binding_key, pattern, queue)`` rows that take ``routing_key``, as kombu.

    direct: equal keys; topic: the stored pattern matches; fanout: every row.
    """
    seen: dict[str, None] = {}
    for binding_key, pattern, queue in rows:
        if exchange_type == "fanout":
            ok = True
        elif exchange_type == "topic":
            ok = _compiled(pattern).match(routing_key) is not None
        else:
            ok = binding_key == routing_key
        if ok and queue:
            seen[queue] = None
    return list(seen)


class ExchangeTable:
    """Exchange types and bindings known to this process; thread-safe for reads."""

    def __init__(self, queues: Iterable[Queue] = ()) -> None:
        self.types: dict[str, str] = {}
        self.bindings: dict[str, dict[tuple[str, str], None]] = {}
        self.entities: dict[str, Queue] = {}
        for queue in queues:
            self.add(queue)

    def add(self, queue: Queue) -> None:
        self.entities[queue.name] = queue
        for binding in queue.all_bindings():
            exchange = binding.exchange
            self.types.setdefault(exchange.name, exchange.type)
            table = self.bindings.setdefault(exchange.name, {})
            table[(binding.routing_key, queue.name)] = None

    def type_of(self, exchange: str) -> str:
        """The exchange's type; unknown exchanges are direct, as kombu assumes."""
        return self.types.get(exchange, "direct")

    def bound_to(self, exchange: str) -> list[Queue]:
        """Known queues with a binding to ``exchange`` (declared before publishing there)."""
        names = {queue for _, queue in self.bindings.get(exchange, {})}
        return [self.entities[name] for name in names if name in self.entities]

    def route(self, exchange: str, routing_key: str) -> list[str]:
        """Queues a message to ``exchange`` with ``routing_key`` reaches (RabbitMQ's rules).

        An exchange with no known bindings routes a direct message to the queue named by the
        routing key (Celery's ``queue -> exchange queue, key queue`` convention); anything
        else unroutable is dropped with a warning, as RabbitMQ drops it.
        """
        kind = self.type_of(exchange)
        table = self.bindings.get(exchange)
        if not table:
            if kind == "direct":
                return [routing_key]
            logger.warning("No queue bound to %s exchange %r; message dropped", kind, exchange)
            return []
        seen: dict[str, None] = {}
        for binding_key, queue in table:
            if matches(binding_key, routing_key, kind):
                seen[queue] = None
        if not seen:
            logger.warning(
                "No binding of %s exchange %r takes routing key %r; message dropped",
                kind,
                exchange,
                routing_key,
            )
        return list(seen)

    def expand(self, batch: Sequence[Outbound]) -> list[Outbound]:
        """``batch`` with every exchange-addressed message replaced by one copy per queue.

        Copies are addressed like Celery's direct sends (default exchange, routing key = the
        queue), which is what queue-keyed storage (SQLite rows, memory lists) understands.
        """
        if not any(out.exchange for out in batch):
            return list(batch)
        out_batch: list[Outbound] = []
        for out in batch:
            if not out.exchange:
                out_batch.append(out)
                continue
            for queue in self.route(out.exchange, out.routing_key):
                out_batch.append(dataclasses.replace(out, exchange="", routing_key=queue))
        return out_batch


# -- Redis: kombu's shared binding sets ---------------------------------------------------------
def redis_add_bindings(pipe: Any, layout: Any, table: ExchangeTable, queue: str) -> None:
    """Queue ``pipe`` SADDs for ``queue``'s bindings into both of kombu's binding sets.

    A queue of ``task_queues`` gets its own exchange and binding key (a topic row carries
    kombu's pattern); any other queue Celery's default, direct exchange ``Q`` with key ``Q``.
    """
    entity = table.entities.get(queue)
    rows = binding_rows(entity) if entity is not None else [(queue, queue, "", queue)]
    for exchange, binding_key, pattern, name in rows:
        member = layout.binding_member(binding_key, pattern, name)
        pipe.sadd(layout.binding(exchange), member)
        pipe.sadd(layout.binding_permanent(exchange), member)


def redis_route(channel: Any, out: Outbound) -> list[str]:
    """The queues of a message to a named exchange on Redis, read from kombu's binding set.

    The known queues bound to the exchange are declared first (once per channel), so their
    rows exist even before any worker started. A direct exchange with no rows at all routes
    to the queue named by the routing key (Celery's ``Q -> Q`` convention); other unroutable
    messages are dropped with a warning, as RabbitMQ drops them.
    """
    table: ExchangeTable = channel.exchanges
    bound = [queue.name for queue in table.bound_to(out.exchange)]
    if bound:
        channel.declare(bound)
    layout = channel.layout
    members = channel._call(lambda: channel.client.smembers(layout.binding(out.exchange)), "route")
    rows: list[tuple[str, str, str]] = []
    for raw in members:
        parts = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(layout.sep, 2)
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    kind = table.type_of(out.exchange)
    queues = kombu_rows_route(rows, out.routing_key, kind)
    if not queues and not rows and kind == "direct":
        return [out.routing_key]
    if not queues:
        logger.warning(
            "No binding of %s exchange %r takes routing key %r; message dropped",
            kind,
            out.exchange,
            out.routing_key,
        )
    return queues


__all__ = [
    "ExchangeTable",
    "Row",
    "binding_rows",
    "kombu_pattern",
    "kombu_rows_route",
    "redis_add_bindings",
    "redis_route",
]
