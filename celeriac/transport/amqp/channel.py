"""``AmqpChannel``: the ``Channel`` contract on RabbitMQ, over two py-amqp connections.

* The **publisher** link (``publisher.py``) carries publishes, declarations, dead-letter and
  delay re-publishes, purges and sizes; every publish is confirmed, a batch in one round trip.
* The **consumer** link (``consumer.py``) carries ``basic.consume``, QoS, acks and rejects;
  ``fetch`` drains its bounded buffer.

Leases are RabbitMQ's own: an unacked delivery belongs to this connection until it is acked or
rejected, and comes back (``redelivered``) when the connection dies, so ``heartbeat`` has
nothing to restore; it keeps both connections' AMQP heartbeats going and returns 0.

``defer``, ``set_aside`` and ``reject(requeue=False)`` first publish the new copy (a delay
bucket, or the dead-letter exchange; ``topology.py``), wait for its confirm, and only then ack
the original: a crash in between leaves two copies, never none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from amqp import exceptions as amqp_errors  # type: ignore[import-untyped]

from celeriac.clients.amqp import AmqpParams
from celeriac.clients.amqp_frames import UNREADABLE_REASON
from celeriac.clients.retry import PUBLISH_RETRY, ReconnectPolicy, RetryPolicy
from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import BrokerConnectionLost
from celeriac.routing.entities import Queue
from celeriac.transport.amqp import deadletter
from celeriac.transport.amqp.codec import to_amqp
from celeriac.transport.amqp.consumer import ConsumerLink
from celeriac.transport.amqp.fanout import BroadcastEntities, FanoutMethods
from celeriac.transport.amqp.publisher import Item, Publisher
from celeriac.transport.amqp.topology import (
    DEAD_LETTER_EXCHANGE,
    Declared,
    Topology,
    delay_level,
    delay_name,
)
from celeriac.transport.base import DeadLetter, Delivery, Outbound
from celeriac.transport.set_aside import log_set_aside

logger = logging.getLogger(__name__)


class AmqpChannel(FanoutMethods):
    """A thread-safe RabbitMQ session; see the module docstring.

    It is a ``FanoutChannel`` too (remote control and events, ``fanout.py``).
    """

    def __init__(self, params: AmqpParams, options: TransportOptions, topology: Topology) -> None:
        typed = options.amqp
        retries = ReconnectPolicy(options.connection_retry, options.connection_max_retries).limit
        self.options = options
        self.params = params
        self.topology = topology
        self.broadcasts = BroadcastEntities(options.broadcast)
        self.publish_policy = RetryPolicy.from_mapping(typed.publish_retry_policy, PUBLISH_RETRY)
        self.publisher = Publisher(params, self.publish_policy, typed.confirm_timeout)
        self.consumer = ConsumerLink(params, topology, typed.prefetch_count, retries)
        self._closed = False

    @property
    def connection_lost(self) -> BrokerConnectionLost | None:
        """Set when the consumer ran out of reconnects (the worker stops on it)."""
        return self.consumer.connection_lost

    def stop_retrying(self) -> None:
        """A stopping worker must not wait out an outage: the consumer stops reconnecting."""
        self.consumer.retry_stopped.set()

    def _run(self, action: Any, what: str) -> Any:
        """A short command (declare, purge, size) on the publisher link.

        It insists as long as ``task_publish_retry_policy`` says, like a publish: these are
        a client's requests (``delay()``'s declare, ``celeriac purge``), and an unreachable
        broker must fail them within about a second, not after ``broker_connection_*``
        reconnects. The worker's start-up wait retries ``declare`` on its own terms.
        """
        return self.publisher.run(action, what)

    # -- declare / publish ------------------------------------------------------------------
    def declare(self, queues: Sequence[str]) -> None:
        def run(channel: Any, declared: Declared) -> None:
            for queue in queues:
                self.topology.declare_task_queue(channel, declared, queue)

        self._run(run, "declare queues")

    def declare_entities(self, queues: Sequence[Queue]) -> None:
        """Declare user-defined queues with their exchanges and bindings (``task_queues``)."""

        def run(channel: Any, declared: Declared) -> None:
            for queue in queues:
                self.topology.declare_entity(channel, declared, queue)

        self._run(run, "declare queues")

    def publish(self, batch: Sequence[Outbound]) -> None:
        """Publish with confirms; a message due later goes through a delay bucket."""
        if not batch:
            return
        now = time.time()
        items: list[Item] = []
        queues: dict[str, None] = {}
        exchanges: dict[str, None] = {}
        levels: set[int] = set()
        for out in batch:
            message = to_amqp(out.message)
            if out.exchange:
                exchanges[out.exchange] = None
                items.append((out.exchange, out.routing_key, message))
                continue
            queues[out.routing_key] = None
            level = None if out.not_before is None else delay_level(out.not_before - now)
            if level is None:
                items.append(("", out.routing_key, message))
            else:
                levels.add(level)
                items.append((delay_name(level), out.routing_key, message))

        def prepare(channel: Any, declared: Declared) -> None:
            for queue in queues:
                self.topology.declare_task_queue(channel, declared, queue)
            for level in levels:
                self.topology.declare_delay(channel, declared, level)
            for exchange in exchanges:
                self.topology.declare_routes_of(channel, declared, exchange)

        self.publisher.publish(items, prepare)

    # -- consume ------------------------------------------------------------------------------
    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        if limit <= 0 or not queues:
            return []
        deliveries = self.consumer.fetch(queues, limit, timeout)
        unreadable = self.consumer.unreadable
        while unreadable:
            self.set_aside(unreadable.pop(), UNREADABLE_REASON)
        return deliveries

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self.consumer.ack(deliveries)

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        if requeue:
            self.consumer.requeue(deliveries)
            return
        for delivery in deliveries:
            self.set_aside(delivery, "rejected without requeue")

    def defer(self, delivery: Delivery, not_before: float) -> None:
        """Re-publish to the delay bucket for ``not_before`` (confirmed), then ack."""
        if not self.consumer.is_current(delivery):
            logger.info(
                "Not deferring %s of a previous connection; it is redelivered", delivery.tag
            )
            return
        level = delay_level(not_before - time.time())
        if level is None:
            self.consumer.requeue([delivery])
            return
        item = (delay_name(level), delivery.queue, to_amqp(delivery.message))

        def prepare(channel: Any, declared: Declared) -> None:
            self.topology.declare_task_queue(channel, declared, delivery.queue)
            self.topology.declare_delay(channel, declared, level)

        self.publisher.publish([item], prepare)
        self.consumer.ack([delivery])

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        """Copy to the dead-letter exchange with the reason (confirmed), then ack."""
        if not self.consumer.is_current(delivery):
            logger.info("Not setting aside %s of a previous connection", delivery.tag)
            return
        copy = deadletter.dead_copy(delivery.message, delivery.queue, reason, time.time())

        def prepare(channel: Any, declared: Declared) -> None:
            self.topology.declare_dead_letters(channel, declared)

        self.publisher.publish([(DEAD_LETTER_EXCHANGE, delivery.queue, copy)], prepare)
        self.consumer.ack([delivery])
        log_set_aside(delivery, reason)

    def heartbeat(self) -> int:
        """Keep both connections alive; RabbitMQ restores dead peers' messages itself."""
        self.consumer.heartbeat()
        self.publisher.heartbeat()
        return 0

    # -- dead letters, sizes --------------------------------------------------------------------
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return deadletter.list_dead(self.publisher, self.topology, limit)

    def requeue_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        return deadletter.requeue_dead(
            self.publisher, self.topology, ids, self.topology.declare_task_queue
        )

    def purge_dead_letters(self) -> int:
        return deadletter.purge_dead(self.publisher, self.topology)

    def purge(self, queue: str) -> int:
        def run(channel: Any, declared: Declared) -> int:
            try:
                return int(channel.queue_purge(queue) or 0)
            except amqp_errors.NotFound:
                self.publisher.link.reset()
                return 0

        return int(self._run(run, f"purge queue {queue!r}"))

    def size(self, queue: str) -> int:
        def run(channel: Any, declared: Declared) -> int:
            try:
                return int(channel.queue_declare(queue, passive=True).message_count)
            except amqp_errors.NotFound:
                self.publisher.link.reset()
                return 0

        return int(self._run(run, f"read the size of queue {queue!r}"))

    def close(self) -> None:
        """Close both connections; RabbitMQ requeues whatever this channel still held."""
        if self._closed:
            return
        self._closed = True
        self.consumer.close()
        self.publisher.close()


__all__ = ["AmqpChannel"]
