"""``memory://``: an in-process broker with the same leases and guarantees as the real ones.

It exists for tests and development: a test client and an in-thread worker in one process talk
through it with no files or servers. ``memory://`` is the default namespace; ``memory://name``
gives a separate one. The same name in one process is the same broker, held in the module-level
``_brokers`` registry below: that registry is test infrastructure, documented here, and the
reason this module is an allowed exception to "no module-level state outside ``_state.py``".

Semantics match ``SqliteChannel``: priority is higher-first then FIFO; ``fetch`` leases; a lease
lives while its channel heartbeats or fetches; ``heartbeat`` restores the leases of channels
silent for ``lease_timeout`` and ``close`` releases the channel's own leases at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import (
    Capabilities,
    DeadLetter,
    Delivery,
    Outbound,
)
from celeriac.transport.emulation import ExchangeTable
from celeriac.transport.open_channels import OpenChannels
from celeriac.transport.set_aside import log_set_aside
from celeriac.transport.sqlite.deadletters import envelope_of, message_of
from celeriac.transport.sqlite.fanout import topic_matches
from celeriac.transport.sqlite.messages import priority_of
from celeriac.utils.shared import SharedTable

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Stored:
    delivery: Delivery
    priority: int
    seq: int


class _Broker:
    """One namespace: ready heaps per queue, a delay heap, leases, consumers and dead letters."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.ready: dict[str, list[tuple[int, int, _Stored]]] = {}
        self.delayed: list[tuple[float, int, _Stored]] = []
        self.leased: dict[str, tuple[_Stored, str]] = {}
        self.consumers: dict[str, float] = {}
        self.dead: dict[str, DeadLetter] = {}
        self.counter = itertools.count(1)
        self.subscriptions: list[MemorySubscription] = []
        #: Named side tables for code sharing this namespace (durable revocations).
        self.aux: dict[str, Any] = {}

    def push(self, stored: _Stored, not_before: float | None = None) -> None:
        if not_before is not None and not_before > time.time():
            heapq.heappush(self.delayed, (not_before, stored.seq, stored))
        else:
            queue = self.ready.setdefault(stored.delivery.queue, [])
            heapq.heappush(queue, (-stored.priority, stored.seq, stored))
        self.cond.notify_all()

    def promote(self, now: float) -> float | None:
        """Move due delayed messages to their queues; return when the next one is due."""
        while self.delayed and self.delayed[0][0] <= now:
            _, _, stored = heapq.heappop(self.delayed)
            self.push(stored)
        return self.delayed[0][0] if self.delayed else None

    def take(self, queues: Sequence[str], limit: int, owner: str) -> list[Delivery]:
        taken: list[Delivery] = []
        heaps = [self.ready[q] for q in queues if self.ready.get(q)]
        while len(taken) < limit and heaps:
            best = min(heaps, key=lambda heap: heap[0][:2])
            _, _, stored = heapq.heappop(best)
            self.leased[stored.delivery.tag] = (stored, owner)
            taken.append(stored.delivery)
            heaps = [heap for heap in heaps if heap]
        return taken

    def restore(self, keep: set[str] | None = None, *, owner: str | None = None) -> int:
        """Return leases to their queues: those of ``owner``, else of owners not in ``keep``."""
        back = [
            tag
            for tag, (_, holder) in self.leased.items()
            if (holder == owner if owner is not None else holder not in (keep or set()))
        ]
        for tag in back:
            stored, _ = self.leased.pop(tag)
            stored.delivery = _redelivered(stored.delivery)
            self.push(stored)
        return len(back)


class MemorySubscription:
    """A fanout subscription on one namespace: a private list filled by ``broadcast``."""

    def __init__(self, broker: _Broker, exchange: str, pattern: str) -> None:
        self.broker = broker
        self.exchange = exchange
        self.pattern = pattern
        self.pending: list[TaskMessage] = []

    def get(self, timeout: float) -> list[TaskMessage]:
        deadline = time.monotonic() + max(timeout, 0.0)
        with self.broker.cond:
            while not self.pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self.broker.cond.wait(remaining)
            taken, self.pending = self.pending, []
            return taken

    def close(self) -> None:
        with self.broker.cond:
            if self in self.broker.subscriptions:
                self.broker.subscriptions.remove(self)


def _redelivered(delivery: Delivery) -> Delivery:
    return Delivery(delivery.message, delivery.queue, delivery.tag, redelivered=True)


_brokers: SharedTable[str, _Broker] = SharedTable(_Broker)


class MemoryChannel:
    """A channel on one in-process namespace; thread-safe through the broker's condition."""

    def __init__(self, broker: _Broker, options: TransportOptions) -> None:
        self._broker = broker
        self.options = options
        self.owner = uuid.uuid4().hex
        self.closed = False
        self.exchanges = ExchangeTable(options.task_queues)  # topic/fanout routing

    def declare(self, queues: Sequence[str]) -> None:
        with self._broker.cond:
            for queue in queues:
                self._broker.ready.setdefault(queue, [])

    def publish(self, batch: Sequence[Outbound]) -> None:
        broker = self._broker
        with broker.cond:
            for outbound in self.exchanges.expand(batch):
                seq = next(broker.counter)
                delivery = Delivery(outbound.message, outbound.routing_key, str(seq))
                stored = _Stored(delivery, priority_of(outbound.message.properties), seq)
                broker.push(stored, outbound.not_before)

    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        if limit <= 0 or not queues:
            return []
        broker = self._broker
        deadline = time.monotonic() + max(timeout, 0.0)
        with broker.cond:
            while True:
                broker.consumers[self.owner] = time.time()
                next_due = broker.promote(time.time())
                taken = broker.take(queues, limit, self.owner)
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0:
                    return taken
                if next_due is not None:
                    remaining = min(remaining, max(next_due - time.time(), 0.0))
                broker.cond.wait(remaining)

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        with self._broker.cond:
            for sub in self._broker.subscriptions:
                if sub.exchange == exchange and topic_matches(sub.pattern, routing_key):
                    sub.pending.append(message)
            self._broker.cond.notify_all()

    def subscribe(self, exchange: str, pattern: str = "#") -> MemorySubscription:
        subscription = MemorySubscription(self._broker, exchange, pattern)
        with self._broker.cond:
            self._broker.subscriptions.append(subscription)
        return subscription

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        with self._broker.cond:
            for delivery in deliveries:
                self._broker.leased.pop(delivery.tag, None)
            self._broker.cond.notify_all()

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        if not requeue:
            for delivery in deliveries:
                self._set_aside(delivery, "rejected")
            return
        broker = self._broker
        with broker.cond:
            for delivery in deliveries:
                held = broker.leased.get(delivery.tag)
                if held is not None and held[1] == self.owner:
                    del broker.leased[delivery.tag]
                    held[0].delivery = _redelivered(held[0].delivery)
                    broker.push(held[0])

    def defer(self, delivery: Delivery, not_before: float) -> None:
        broker = self._broker
        with broker.cond:
            held = broker.leased.get(delivery.tag)
            if held is not None and held[1] == self.owner:
                del broker.leased[delivery.tag]
                broker.push(held[0], not_before)

    def heartbeat(self) -> int:
        broker = self._broker
        now = time.time()
        cutoff = now - self.options.lease_timeout
        with broker.cond:
            broker.consumers[self.owner] = now
            for owner in [o for o, seen in broker.consumers.items() if seen < cutoff]:
                del broker.consumers[owner]
            restored = broker.restore(set(broker.consumers))
        if restored:
            logger.warning(
                "Restored %d message(s) leased by channels silent for over %.1f s",
                restored,
                self.options.lease_timeout,
            )
        return restored

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        self._set_aside(delivery, reason)

    def _set_aside(self, delivery: Delivery, reason: str) -> None:
        broker = self._broker
        with broker.cond:
            broker.leased.pop(delivery.tag, None)
            ident = str(next(broker.counter))
            broker.dead[ident] = DeadLetter(
                ident, delivery.queue, reason, time.time(), envelope_of(delivery)
            )
        log_set_aside(delivery, reason)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._broker.cond:
            return list(itertools.islice(self._broker.dead.values(), limit))

    def requeue_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        broker = self._broker
        moved = 0
        with broker.cond:
            for ident in list(broker.dead) if ids is None else ids:
                dead = broker.dead.get(ident)
                if dead is None:
                    continue
                try:
                    message = message_of(dead.payload)
                except InvalidMessage as exc:
                    logger.error("Dead letter %s cannot be requeued: %s", ident, exc)
                    continue
                del broker.dead[ident]
                seq = next(broker.counter)
                delivery = Delivery(message, dead.queue, str(seq), redelivered=True)
                broker.push(_Stored(delivery, priority_of(message.properties), seq))
                moved += 1
        return moved

    def purge_dead_letters(self) -> int:
        with self._broker.cond:
            count = len(self._broker.dead)
            self._broker.dead.clear()
            return count

    def purge(self, queue: str) -> int:
        broker = self._broker
        with broker.cond:
            count = len(broker.ready.pop(queue, []))
            kept = [entry for entry in broker.delayed if entry[2].delivery.queue != queue]
            count += len(broker.delayed) - len(kept)
            heapq.heapify(kept)
            broker.delayed = kept
            return count

    def size(self, queue: str) -> int:
        broker = self._broker
        with broker.cond:
            delayed = sum(1 for entry in broker.delayed if entry[2].delivery.queue == queue)
            return len(broker.ready.get(queue, ())) + delayed

    def close(self) -> None:
        """Give this channel's leases back at once: nobody can ack them any more."""
        if self.closed:
            return
        self.closed = True
        with self._broker.cond:
            self._broker.consumers.pop(self.owner, None)
            self._broker.restore(owner=self.owner)


class MemoryTransport:
    """``memory://[name]``: channels on the named in-process broker (see the module docstring)."""

    capabilities = Capabilities(delayed_delivery=True)

    def __init__(self, name: str = "", options: TransportOptions | None = None) -> None:
        self.name = name
        self.options = options or TransportOptions()
        self._broker = _brokers.get(name)
        self._open: OpenChannels[MemoryChannel] = OpenChannels()

    @classmethod
    def from_url(cls, url: str, options: TransportOptions) -> Self:
        _, _, rest = url.partition("://")
        return cls(rest.split("?", 1)[0].strip("/"), options)

    def channel(self) -> MemoryChannel:
        return self._open.add(MemoryChannel(self._broker, self.options))

    def close(self) -> None:
        self._open.close_all()

    def shared(self, key: str) -> dict[str, Any]:
        """A named dict shared by every transport on this namespace, guarded by ``lock``."""
        with self._broker.cond:
            table: dict[str, Any] = self._broker.aux.setdefault(key, {})
            return table

    @property
    def lock(self) -> threading.Condition:
        return self._broker.cond

    def join(self, queues: Sequence[str], timeout: float = 10.0) -> bool:
        """Wait until ``queues`` are empty and nothing is leased (tests: "all work done")."""
        broker = self._broker
        deadline = time.monotonic() + timeout
        with broker.cond:
            while True:
                busy = (
                    broker.leased
                    or any(broker.ready.get(q) for q in queues)
                    or any(entry[2].delivery.queue in queues for entry in broker.delayed)
                )
                remaining = deadline - time.monotonic()
                if not busy or remaining <= 0:
                    return not busy
                broker.cond.wait(min(remaining, 0.05))

    def __repr__(self) -> str:
        return f"<MemoryTransport memory://{self.name}>"


__all__ = ["MemoryChannel", "MemoryTransport"]
