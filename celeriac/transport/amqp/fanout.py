"""Broadcasts on RabbitMQ with Celery's own entities: the pidbox and the event stream.

wire-protocol.md §3.1 and §6, what Celery 5.7 declares with default settings:

===============================  ==============================================================
``celery.pidbox``                fanout exchange, non-durable; commands go out on it (rk ``''``)
``<nodename>.celery.pidbox``     a worker's queue: non-durable, exclusive, auto-delete,
                                 ``x-message-ttl`` = control_queue_ttl, ``x-expires`` =
                                 control_queue_expires (ms); bound with rk ``''``
``reply.celery.pidbox``          direct exchange, non-durable; replies go out with rk ``<oid>``
``<oid>.reply.celery.pidbox``    the client's reply queue, exclusive, auto-delete, same TTLs,
                                 bound with rk ``<oid>``
``celeryev``                     topic exchange, durable; events with rk ``task.multi``, ...
``celeryev.<uuid4>``             a subscriber's queue: exclusive (``event_queue_exclusive``),
                                 auto-delete unless ``event_queue_durable``, ``x-message-ttl``
                                 = event_queue_ttl, ``x-expires`` = event_queue_expires (ms),
                                 name prefix ``event_queue_prefix``; bound with the pattern
===============================  ==============================================================

The ``FanoutChannel`` methods only name an exchange, so ``BroadcastEntities`` decides its kind
from the name as kombu's pidbox names them: ``<namespace>.pidbox`` is the fanout,
``reply.<namespace>.pidbox`` the direct reply exchange, and any other name (``celeryev``, or
whatever ``event_exchange`` says) a durable topic exchange, which routes on the subscription's
pattern. Queue arguments and names come from ``TransportOptions.broadcast``. A subscriber queue
is named after the node when the caller gives a name (``subscribe_named``: the worker's
``<nodename>.celery.pidbox``, whose exclusive declaration also keeps a second worker of the
same name from listening), else ``<uuid4>.<exchange>`` on the pidbox and
``<event_queue_prefix>.<uuid4>`` on topic exchanges.

Each subscription consumes (``no_ack``, as Celery's pidbox and event consumers do) on a
connection of its own, so a control thread or an event monitor never shares py-amqp's
non-thread-safe connection with the worker's consumer. Its exclusive queue lives as long as that
connection; after a reconnect it is declared again. Broadcasts and replies are published
through the channel's confirmed publisher. The client's reply queue is consumed by the
channel's ordinary consumer link (``Mailbox`` reads replies with ``fetch``), which must also
be the connection that declares it: an exclusive queue belongs to its declaring connection.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from amqp import exceptions as amqp_errors  # type: ignore[import-untyped]

from celeriac.clients.amqp import AMQP_ERRORS, AmqpParams, Link, with_retries
from celeriac.config.frozen import BroadcastOptions
from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.protocol.message import TaskMessage
from celeriac.routing.entities import Exchange, Queue
from celeriac.transport.amqp.codec import from_amqp, to_amqp
from celeriac.transport.amqp.topology import Declared, Topology

if TYPE_CHECKING:
    from celeriac.transport.amqp.consumer import ConsumerLink
    from celeriac.transport.amqp.publisher import Publisher

logger = logging.getLogger(__name__)

#: The longest one wait for the socket lasts before ``get`` looks at its deadline again.
_SLICE = 0.5


class BroadcastEntities:
    """Celery's exchanges and subscriber queues for the names a ``FanoutChannel`` is given."""

    def __init__(self, options: BroadcastOptions) -> None:
        self.options = options

    def is_pidbox(self, exchange: str) -> bool:
        return exchange.endswith(".pidbox") and not self.is_reply(exchange)

    @staticmethod
    def is_reply(exchange: str) -> bool:
        return exchange.startswith("reply.") and exchange.endswith(".pidbox")

    def exchange(self, name: str) -> Exchange:
        """The declaration of broadcast exchange ``name`` (module docstring)."""
        if self.is_reply(name):
            return Exchange(name, "direct", durable=False)
        if self.is_pidbox(name):
            return Exchange(name, "fanout", durable=False)
        return Exchange(name, "topic", durable=True)

    def subscriber_queue(self, exchange: str, pattern: str, name: str | None = None) -> Queue:
        """The queue a subscriber to ``exchange`` reads, bound with ``pattern``."""
        opts = self.options
        entity = self.exchange(exchange)
        if self.is_pidbox(exchange):
            return Queue(name or f"{uuid.uuid4()}.{exchange}", entity, routing_key="",
                         durable=False, exclusive=True, auto_delete=True,
                         message_ttl=opts.control_queue_ttl,
                         expires=opts.control_queue_expires)
        if opts.event_queue_exclusive and opts.event_queue_durable:
            raise ImproperlyConfigured(
                "event_queue_exclusive and event_queue_durable cannot both be True "
                "(exclusive queues are deleted with their connection), as in Celery")
        return Queue(name or f"{opts.event_queue_prefix}.{uuid.uuid4()}", entity,
                     routing_key=pattern, durable=opts.event_queue_durable,
                     exclusive=opts.event_queue_exclusive,
                     auto_delete=not opts.event_queue_durable,
                     message_ttl=opts.event_queue_ttl, expires=opts.event_queue_expires)

    def reply_queue(self, exchange: str, routing_key: str, name: str) -> Queue:
        """The client's reply queue ``name`` (``<oid>.reply.celery.pidbox``)."""
        opts = self.options
        return Queue(name, self.exchange(exchange), routing_key=routing_key, durable=False,
                     exclusive=True, auto_delete=True, message_ttl=opts.control_queue_ttl,
                     expires=opts.control_queue_expires)


class AmqpSubscription:
    """A subscriber queue consumed with ``no_ack`` on a connection of its own.

    The queue is declared, bound and consumed before the constructor returns, so every later
    broadcast reaches it. ``get`` reconnects (and re-declares) after a lost connection; the
    error of the failed attempt is raised so that the caller can log it and call again.
    """

    def __init__(self, params: AmqpParams, topology: Topology, queue: Queue) -> None:
        self.queue = queue
        self.topology = topology
        self.lock = threading.Lock()
        self.buffer: deque[Any] = deque()
        self.closed = False
        self.link = Link(params, f"subscriber {queue.name}", on_open=self._on_open)
        try:
            with self.lock:
                self.link.channel()
        except amqp_errors.ResourceLocked as exc:
            self.link.reset()
            raise OperationalError(
                f"Queue {queue.name!r} is in use by another connection: another node with "
                "this name is already listening (give each worker a unique name with -n)"
            ) from exc
        except AMQP_ERRORS as exc:
            self.link.reset()
            raise OperationalError(
                f"Could not subscribe to {queue.name!r} at {params.redacted()}: {exc!r}"
            ) from exc

    def _on_open(self, channel: Any) -> None:
        self.buffer.clear()
        self.topology.declare_exact(channel, Declared(), self.queue)
        channel.basic_consume(self.queue.name, callback=self.buffer.append, no_ack=True)

    def get(self, timeout: float) -> list[TaskMessage]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with self.lock:
                if self.closed:
                    return []
                try:
                    self.link.channel()
                    self.link.keep_alive()
                    self.link.drain_ready()
                except AMQP_ERRORS as exc:
                    self.link.reset()
                    raise OperationalError(
                        f"Lost the subscription {self.queue.name!r}: {exc!r}") from exc
                if self.buffer:
                    return self._take()
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self.link.wait_readable(min(left, _SLICE))

    def _take(self) -> list[TaskMessage]:
        messages: list[TaskMessage] = []
        while self.buffer:
            raw = self.buffer.popleft()
            message = from_amqp(raw)
            message.extra["routing_key"] = (raw.delivery_info or {}).get("routing_key", "")
            messages.append(message)
        return messages

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.buffer.clear()
            self.link.close()


class FanoutMethods:
    """The ``FanoutChannel`` side of ``AmqpChannel`` (the channel builds the attributes)."""

    publisher: Publisher
    consumer: ConsumerLink
    topology: Topology
    broadcasts: BroadcastEntities
    params: AmqpParams

    def _publish_to(self, exchange: str, routing_key: str, message: TaskMessage) -> None:
        entity = None if exchange == "" else self.broadcasts.exchange(exchange)

        def prepare(channel: Any, declared: Declared) -> None:
            if entity is not None:
                self.topology.declare_exchange(channel, declared, entity)

        self.publisher.publish([(exchange, routing_key, to_amqp(message))], prepare)

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        """Publish to ``exchange`` (declared first, as Celery declares it), confirmed."""
        self._publish_to(exchange, routing_key, message)

    def subscribe(self, exchange: str, pattern: str = "#") -> AmqpSubscription:
        return self.subscribe_named(exchange, pattern, None)

    def subscribe_named(self, exchange: str, pattern: str, queue: str | None) -> AmqpSubscription:
        """``subscribe`` through a queue called ``queue`` (None: a fresh name, see above)."""
        entity = self.broadcasts.subscriber_queue(exchange, pattern, queue)
        return AmqpSubscription(self.params, self.topology, entity)

    def send_reply(self, exchange: str, routing_key: str, message: TaskMessage) -> None:
        """Publish a pidbox reply as a Celery node does: to ``exchange`` with ``routing_key``."""
        self._publish_to(exchange, routing_key, message)

    def bind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Declare the client's exclusive reply queue on the consumer link that reads it."""
        entity = self.broadcasts.reply_queue(exchange, routing_key, queue)
        self.topology.broadcast_queues[queue] = entity
        link = self.consumer.link

        def declare() -> None:
            with self.consumer.lock:
                channel = link.channel()
                self.topology.declare_task_queue(
                    channel, self.consumer.declared.fresh(link.generation), queue)

        with_retries(link, declare, "declare the control reply queue",
                     self.publisher.policy)

    def unbind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        """Forget the reply queue; RabbitMQ deletes it with the consumer connection."""
        self.topology.broadcast_queues.pop(queue, None)


__all__ = ["AmqpSubscription", "BroadcastEntities", "FanoutMethods"]
