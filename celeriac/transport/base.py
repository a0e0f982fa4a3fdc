"""The seam every broker plugs into: a ``Transport`` that opens thread-safe ``Channel``s.

The interface is batch-shaped on purpose (publish many, fetch up to N, ack many): Redis,
RabbitMQ and SQS reach their throughput targets only when a round trip carries many messages.

Delivery guarantees every transport keeps:

* ``fetch`` *leases* messages: a fetched message stays on the broker, owned by this channel,
  until ``ack`` removes it or ``reject(requeue=True)`` releases it. Taking a message and
  recording the lease is one atomic step.
* ``heartbeat`` renews this channel's leases and returns the leases of channels whose heartbeat
  stopped (a worker killed with SIGKILL) to their queues, so nothing waits for an hour-long
  visibility timeout.
* A message that cannot be decoded or must not run is ``set_aside`` with its reason, never
  dropped; ``dead_letters`` lists those, ``requeue_dead_letters`` puts them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage

DEFAULT_EXCHANGE = ""


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message on its way to the broker.

    ``routing_key`` names the target queue for the default (nameless) exchange, as Celery's
    clients publish. ``not_before`` (epoch seconds) lets a transport with delayed delivery
    keep the message invisible until then. A transport may also deliver it at once (Redis
    does by default, so Celery workers sharing the queue see it): the worker reads the
    ``eta`` header either way and ``defer``s or holds the message until it is due.
    """

    message: TaskMessage
    routing_key: str
    exchange: str = DEFAULT_EXCHANGE
    not_before: float | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A leased message handed to the worker. ``tag`` is opaque to everyone but the transport."""

    message: TaskMessage
    queue: str
    tag: str
    redelivered: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message set aside because it could not or must not run, kept for inspection."""

    id: str
    queue: str
    reason: str
    set_aside_at: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a transport does natively; the worker fills the gaps the same way for every broker."""

    delayed_delivery: bool = False
    native_routing: bool = False
    #: The broker streams deliveries to the client up to the prefetch window (AMQP), so a
    #: fetch is local decoding: a solo worker fetches on its own thread (no prefetcher).
    pushes: bool = False
    #: ``publish`` retries connection problems per ``task_publish_retry_policy`` itself (it
    #: re-sends only unconfirmed messages), so the producer does not retry on top.
    retries_publish: bool = False


@runtime_checkable
class Channel(Protocol):
    """A thread-safe session with the broker. See the module docstring for the guarantees."""

    def declare(self, queues: Sequence[str]) -> None:
        """Make sure ``queues`` exist and are bound to the default exchange. Idempotent."""

    def publish(self, batch: Sequence[Outbound]) -> None:
        """Hand ``batch`` to the broker; returns only once the broker has accepted all of it."""

    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` due messages from ``queues``, blocking at most ``timeout`` s.

        Returns early with what is available; an empty list means nothing came in time.
        """

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Remove ``deliveries`` from the broker for good."""

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        """Release ``deliveries``: back to their queue when ``requeue``, else set aside."""

    def defer(self, delivery: Delivery, not_before: float) -> None:
        """Put ``delivery`` back, invisible until ``not_before``, releasing this lease.

        Only called when ``capabilities.delayed_delivery`` is true: it is how ETA tasks wait
        on the broker instead of in a worker's memory.
        """

    def heartbeat(self) -> int:
        """Renew this channel's leases; return the number of dead peers' messages restored."""

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        """Move ``delivery`` out of its queue to the dead-letter store, with ``reason``."""

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Messages set aside, oldest first."""

    def requeue_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        """Put set-aside messages (all when ``ids`` is None) back on their queues."""

    def purge_dead_letters(self) -> int:
        """Delete every set-aside message; returns how many."""

    def purge(self, queue: str) -> int:
        """Delete every ready message of ``queue``; returns how many."""

    def size(self, queue: str) -> int:
        """Ready messages waiting in ``queue``."""

    def close(self) -> None:
        """Release connections. Leases still held are restored by peers' heartbeats."""


class Subscription(Protocol):
    """A live subscription to a fanout exchange; sees only messages broadcast after it began."""

    def get(self, timeout: float) -> list[TaskMessage]:
        """Messages broadcast since the last call, waiting up to ``timeout`` s for the first."""

    def close(self) -> None:
        """Stop receiving."""


@runtime_checkable
class FanoutChannel(Protocol):
    """Broadcast, for remote control (``celery.pidbox``) and events (``celeryev``).

    A channel that supports it implements these two methods besides ``Channel``'s. Delivery is
    at-most-once and volatile, as in kombu: a subscriber that is not listening misses the
    message. Replies to a broadcast go to a plain queue through ``publish``.
    """

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        """Send ``message`` to every current subscriber of ``exchange``."""

    def subscribe(self, exchange: str, pattern: str = "#") -> Subscription:
        """Start receiving broadcasts on ``exchange`` whose routing key matches ``pattern``."""


class LivenessRenewer(Protocol):
    """Renews exactly the record whose expiry lets peers restore a channel's messages.

    Built by the channel, pickled, and run in the lease keeper process
    (``celeriac.transport.lease_keeper``), where a task holding the worker's GIL cannot starve
    it. It opens its own connection on first ``renew``.
    """

    def renew(self) -> None:
        """Mark the channel alive for another ``lease_timeout``."""

    def close(self) -> None:
        """Release the connection."""


@runtime_checkable
class LivenessChannel(Protocol):
    """A channel whose liveness another process can renew (Redis, SQLite).

    Brokers that track liveness themselves (AMQP: the connection and its heartbeats) and
    in-process ones (memory) do not implement it.
    """

    def liveness_renewer(self) -> LivenessRenewer | None:
        """A picklable renewer for this channel, or None when it cannot be built."""


class Transport(Protocol):
    """A broker kind. Built once per process from a URL; opens channels."""

    capabilities: Capabilities

    @classmethod
    def from_url(cls, url: str, options: TransportOptions) -> Self:
        """Build the transport for ``url``; no network I/O happens before ``channel()``."""

    def channel(self) -> Channel:
        """A new channel (own lease identity), connected lazily."""

    def close(self) -> None:
        """Close every channel this transport opened."""
