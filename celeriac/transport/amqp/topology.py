"""What celeriac declares on RabbitMQ: task queues as Celery does, dead letters, delay buckets.

**Task queues** (wire-protocol.md §3.1): for queue ``Q``, Celery's defaults declare exchange
``Q`` (direct, durable), queue ``Q`` (durable, no arguments unless configured) and the binding
``Q -> Q`` with key ``Q``; tasks are then published to the *default* exchange with routing key
``Q`` (§3.2). Declaring with the same arguments as Celery matters: RabbitMQ refuses a second
declaration with different arguments (PRECONDITION_FAILED), so a Celery worker and a celeriac
worker can share a queue only if both declare it alike. ``x-max-priority`` comes from
``queue_max_priority`` (``task_queue_max_priority``); per-queue arguments from
``queue_arguments`` or from a ``routing.Queue`` given to ``declare_entity``.

**Quorum queues** (``x-queue-type: quorum``) are always durable, cannot be exclusive or
auto-delete, have no per-message priority on RabbitMQ 3.x (``x-max-priority`` is dropped with a
warning; priorities are then ignored) and do not support *global* QoS, so the consumer switches
to per-consumer prefetch when it consumes one (see ``consumer.py``).

**Dead letters**: messages set aside are copied to the topic exchange ``celeriac.deadletter``
(routing key = their queue) whose queue ``celeriac.deadletter`` is bound with ``#``, with the
reason in the ``x-celeriac-reason`` header; the original is acked only after the copy is
confirmed, so a message is never lost in between. Task queues get no ``x-dead-letter-exchange``
argument: that would make their declaration differ from Celery's.

**Delayed delivery** (ETA/countdown beyond RabbitMQ's ``consumer_timeout``): instead of holding
a message unacked for hours (RabbitMQ closes a channel whose delivery stays unacked longer than
``consumer_timeout``, 30 min by default, and Celery does exactly that with far ETAs), a message
due in ``d`` seconds is re-published to a *delay bucket* and the original acked. Bucket ``k``
is a fanout exchange and a queue ``celeriac.delay.<2**k>`` with ``x-message-ttl = 2**k`` s and
``x-dead-letter-exchange = ''``: when the TTL runs out RabbitMQ dead-letters the message to the
default exchange with its original routing key, i.e. back into its task queue. The bucket is
the largest power of two not above ``d``, so the message comes back early by less than half of
``d``; the worker sees the ETA still ahead and defers it again into a smaller bucket. A wait of
``d`` seconds takes at most ``log2(d)`` hops, each one a short-lived delivery, and no message is
held longer than a moment. Every message in a bucket has the same TTL, so the queue is FIFO in
expiry order: no head-of-line blocking, which per-message TTLs in one queue would suffer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any, Final

from celeriac.config.transport_keys import AmqpTransportOptions
from celeriac.routing.entities import Exchange, Queue

logger = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE: Final = "celeriac.deadletter"
DEAD_LETTER_QUEUE: Final = "celeriac.deadletter"
DELAY_PREFIX: Final = "celeriac.delay."
#: 2**27 s is about 4.25 years; longer waits take several trips through the top bucket.
MAX_DELAY_LEVEL: Final = 27
#: Shorter waits are not worth a broker round trip; the worker holds those itself.
MIN_DELAY: Final = 1.0

REASON_HEADER: Final = "x-celeriac-reason"
QUEUE_HEADER: Final = "x-celeriac-queue"
SET_ASIDE_AT_HEADER: Final = "x-celeriac-set-aside-at"
DEAD_ID_HEADER: Final = "x-celeriac-dead-id"
DEAD_HEADERS: Final = (REASON_HEADER, QUEUE_HEADER, SET_ASIDE_AT_HEADER, DEAD_ID_HEADER)


def delay_level(seconds: float) -> int | None:
    """The bucket for a wait of ``seconds``: ``floor(log2(seconds))``; None when too short."""
    if seconds < MIN_DELAY:
        return None
    return min(math.floor(math.log2(seconds)), MAX_DELAY_LEVEL)


def delay_name(level: int) -> str:
    """Exchange and queue name of bucket ``level`` (``celeriac.delay.64``)."""
    return f"{DELAY_PREFIX}{1 << level}"


class Declared(set[str]):
    """What one connection declared already; ``fresh`` forgets it after a reconnect."""

    generation = -1

    def fresh(self, generation: int) -> Declared:
        if generation != self.generation:
            self.generation = generation
            self.clear()
        return self


class Topology:
    """Declaration rules and the user's ``Queue`` entities, shared by a channel's links."""

    def __init__(self, options: AmqpTransportOptions | None = None,
                 task_queues: Iterable[Queue] = ()) -> None:
        options = options or AmqpTransportOptions()
        self.max_priority = options.queue_max_priority
        self.default_queue_type = options.default_queue_type
        self.entities: dict[str, Queue] = {queue.name: queue for queue in task_queues}
        self.arguments: dict[str, dict[str, Any]] = {
            name: dict(args) for name, args in options.queue_arguments.items()
        }
        #: Pidbox reply queues (``fanout.py``): declared exactly as Celery does, never with
        #: the task queues' defaults (priority, queue type).
        self.broadcast_queues: dict[str, Queue] = {}
        self._warned: set[str] = set()

    # -- rules --------------------------------------------------------------------------------
    def queue_arguments(self, name: str) -> dict[str, Any]:
        """The ``queue.declare`` arguments of task queue ``name``."""
        entity = self.entities.get(name)
        if entity is not None:
            arguments = entity.declare_arguments()
        else:
            arguments = dict(self.arguments.get(name, {}))
            if self.default_queue_type != "classic":
                arguments.setdefault("x-queue-type", self.default_queue_type)
        if self.max_priority is not None:
            arguments.setdefault("x-max-priority", self.max_priority)
        if arguments.get("x-queue-type") == "quorum" and "x-max-priority" in arguments:
            del arguments["x-max-priority"]
            if name not in self._warned:
                self._warned.add(name)
                logger.warning(
                    "Queue %r is a quorum queue: RabbitMQ 3.x quorum queues have no message "
                    "priorities, so x-max-priority is not declared and priorities are ignored",
                    name,
                )
        return arguments

    def is_quorum(self, name: str) -> bool:
        return self.queue_arguments(name).get("x-queue-type") == "quorum"

    # -- declaring ----------------------------------------------------------------------------
    def declare_task_queue(self, channel: Any, cache: Declared, name: str) -> None:
        """Celery's declaration of queue ``name`` (or of its ``routing.Queue`` entity)."""
        if name in cache:
            return
        private = self.broadcast_queues.get(name)
        if private is not None:
            self.declare_exact(channel, cache, private)
            return
        entity = self.entities.get(name) or Queue.missing(name)
        self._declare_queue(channel, cache, entity, self.queue_arguments(name))
        cache.add(name)

    def declare_entity(self, channel: Any, cache: Declared, queue: Queue) -> None:
        """Declare a user-defined ``Queue`` with its exchange and bindings; remember it."""
        self.entities[queue.name] = queue
        cache.discard(queue.name)
        self.declare_task_queue(channel, cache, queue.name)

    def declare_exact(self, channel: Any, cache: Declared, queue: Queue) -> None:
        """Declare ``queue`` with its own arguments only (the broadcast queues, ``fanout.py``)."""
        self._declare_queue(channel, cache, queue, queue.declare_arguments())
        cache.add(queue.name)

    def declare_routes_of(self, channel: Any, cache: Declared, exchange: str) -> None:
        """Before publishing to ``exchange``: declare the known queues bound to it.

        Celery declares the routed queue before each publish; declaring every configured
        queue bound to the exchange also keeps a topic or fanout message from being dropped
        as unroutable just because no worker has declared its queue yet.
        """
        key = "route:" + exchange
        if key in cache:
            return
        for queue in list(self.entities.values()):
            if any(b.exchange.name == exchange for b in queue.all_bindings()):
                self.declare_task_queue(channel, cache, queue.name)
        cache.add(key)

    def _declare_queue(
        self, channel: Any, cache: Declared, queue: Queue, arguments: dict[str, Any]
    ) -> None:
        quorum = arguments.get("x-queue-type") == "quorum"
        channel.queue_declare(
            queue.name,
            durable=queue.durable or quorum,
            exclusive=queue.exclusive and not quorum,
            auto_delete=queue.auto_delete and not quorum,
            arguments=arguments or None,
        )
        for binding in queue.all_bindings():
            self.declare_exchange(channel, cache, binding.exchange)
            channel.queue_bind(
                queue.name,
                binding.exchange.name,
                binding.routing_key,
                arguments=dict(binding.arguments) if binding.arguments else None,
            )

    def declare_exchange(self, channel: Any, cache: Declared, exchange: Exchange) -> None:
        key = "exchange:" + exchange.name
        if exchange.is_default or exchange.no_declare or key in cache:
            return
        channel.exchange_declare(
            exchange.name,
            exchange.type,
            passive=exchange.passive,
            durable=exchange.durable,
            auto_delete=exchange.auto_delete,
            arguments=dict(exchange.arguments) if exchange.arguments else None,
        )
        cache.add(key)

    def declare_dead_letters(self, channel: Any, cache: Declared) -> None:
        if DEAD_LETTER_QUEUE in cache:
            return
        channel.exchange_declare(DEAD_LETTER_EXCHANGE, "topic", durable=True, auto_delete=False)
        channel.queue_declare(DEAD_LETTER_QUEUE, durable=True, auto_delete=False)
        channel.queue_bind(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, "#")
        cache.add(DEAD_LETTER_QUEUE)

    def declare_delay(self, channel: Any, cache: Declared, level: int) -> str:
        """Declare bucket ``level`` (exchange, queue, binding); returns its exchange name."""
        name = delay_name(level)
        if name not in cache:
            channel.exchange_declare(name, "fanout", durable=True, auto_delete=False)
            channel.queue_declare(
                name,
                durable=True,
                auto_delete=False,
                arguments={"x-message-ttl": (1 << level) * 1000, "x-dead-letter-exchange": ""},
            )
            channel.queue_bind(name, name, "")
            cache.add(name)
        return name


__all__ = [
    "DEAD_HEADERS",
    "DEAD_ID_HEADER",
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "DELAY_PREFIX",
    "MAX_DELAY_LEVEL",
    "MIN_DELAY",
    "QUEUE_HEADER",
    "REASON_HEADER",
    "SET_ASIDE_AT_HEADER",
    "Declared",
    "Topology",
    "delay_level",
    "delay_name",
]
