"""The consuming side: ``basic.consume`` into a bounded local buffer that ``fetch`` drains.

A lease is simply an unacked delivery on this link's channel: RabbitMQ keeps the message,
owned by us, until we ack or reject it, and redelivers it (``redelivered=True``) if the
connection drops. ``basic.qos`` bounds how many RabbitMQ pushes ahead, so the buffer never
holds more than the prefetch count. QoS is *global* for the channel as Celery sets it
(pitfall §7.24); a channel consuming a quorum queue uses per-consumer QoS instead, because
quorum queues do not support global QoS.

Delivery tags are only meaningful on the channel that received them, and a new channel counts
from 1 again. So a ``Delivery.tag`` is ``"<generation>:<delivery_tag>"``: after a reconnect,
settling a delivery of an older generation is skipped (RabbitMQ redelivers it anyway) instead of
acking an unrelated message that happens to carry the same number on the new channel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from celeriac.clients.amqp import AMQP_ERRORS, AmqpParams, Link
from celeriac.clients.amqp_frames import STAND_INS, UNREADABLE_HEADER
from celeriac.clients.retry import backoff_wait
from celeriac.exceptions import BrokerConnectionLost
from celeriac.transport.amqp.codec import from_amqp
from celeriac.transport.amqp.topology import Declared, Topology
from celeriac.transport.base import Delivery

logger = logging.getLogger(__name__)

#: The longest one wait for the socket lasts before the loop looks again (a link reset by
#: another thread closes the socket, which does not wake ``select``).
_SLICE = 1.0
#: RecursionError: RabbitMQ repeats a channel close (consumer_timeout) until it is answered,
#: and py-amqp reopens the channel on each queued close, recursively; a new connection ends it.
_FETCH_ERRORS: tuple[type[BaseException], ...] = (*AMQP_ERRORS, RecursionError)
#: Bytes read per ``recv`` on the consuming socket (``buffer_reads``). py-amqp copies what
#: is left of its buffer after every frame part it takes, so far larger is slower, not faster.
READ_AHEAD = 16384


class ConsumerLink:
    """One consuming connection; thread-safe through ``lock`` (see the module docstring)."""

    def __init__(
        self,
        params: AmqpParams,
        topology: Topology,
        prefetch_count: int | None,
        max_retries: int | None,
    ) -> None:
        self.link = Link(params, "consumer", on_open=self._on_open, read_buffer=READ_AHEAD)
        self.topology = topology
        self.fixed_prefetch = prefetch_count
        self.max_retries = max_retries
        self.lock = threading.RLock()
        self.declared = Declared()
        self.buffer: deque[tuple[str, Any]] = deque()
        self.queues: tuple[str, ...] = ()
        self.prefetch = 0
        self.unacked: set[int] = set()
        #: Leased deliveries whose properties could not be decoded, to be set aside.
        self.unreadable: list[Delivery] = []
        self._consumers: dict[str, str] = {}
        self._failing = False
        #: Set when reconnecting ran out (the worker stops on it); cleared by a success.
        self.connection_lost: BrokerConnectionLost | None = None
        #: Set by a stopping worker: the backoff ends at once and reconnecting stops.
        self.retry_stopped = threading.Event()

    # -- connection state -------------------------------------------------------------------
    def _on_open(self, channel: Any) -> None:
        """A fresh channel: nothing is leased any more; set QoS and consume every queue."""
        self.buffer.clear()
        self.unacked.clear()
        self.unreadable.clear()
        self._consumers = {}
        declared = self.declared.fresh(self.link.generation)
        for queue in self.queues:
            self.topology.declare_task_queue(channel, declared, queue)
        if self.prefetch:
            self._qos(channel)
        for queue in self.queues:
            self._consume(channel, queue)

    def _qos(self, channel: Any) -> None:
        per_consumer = any(self.topology.is_quorum(q) for q in self.queues)
        channel.basic_qos(0, min(self.prefetch, 65535), not per_consumer)

    def _consume(self, channel: Any, queue: str) -> None:
        def on_message(message: Any) -> None:
            self.buffer.append((queue, message))

        tag = channel.basic_consume(queue, callback=on_message, no_ack=False)
        self._consumers[tag] = queue

    def _ensure(self, queues: Sequence[str], limit: int) -> Any:
        """Open the link if needed and make the consumers and QoS match this fetch."""
        wanted = tuple(dict.fromkeys(queues))
        prefetch = self.fixed_prefetch or max(self.prefetch, limit)
        if not self.link.is_open:
            self.queues, self.prefetch = wanted, prefetch
            return self.link.channel()
        channel = self.link.channel()
        if prefetch != self.prefetch:
            self.prefetch = prefetch
            self._qos(channel)
        if wanted != self.queues:
            self._switch(channel, wanted)
        return channel

    def _switch(self, channel: Any, wanted: tuple[str, ...]) -> None:
        declared = self.declared.fresh(self.link.generation)
        for tag, queue in list(self._consumers.items()):
            if queue not in wanted:
                channel.basic_cancel(tag)
                del self._consumers[tag]
        old = set(self.queues)
        self.queues = wanted
        for queue in wanted:
            if queue not in old:
                self.topology.declare_task_queue(channel, declared, queue)
                self._consume(channel, queue)

    def _recover(self, exc: BaseException, failures: int) -> float:
        """Drop the broken link; return the backoff to wait (outside the lock).

        Raises:
            BrokerConnectionLost: still failing after ``max_retries`` reconnects (then at
                once, until a reconnect succeeds).
        """
        self.link.reset()
        self.buffer.clear()
        self.unacked.clear()
        self.unreadable.clear()
        if self.connection_lost is not None or self.retry_stopped.is_set() or (
                self.max_retries is not None and failures > self.max_retries):
            self.connection_lost = BrokerConnectionLost(
                f"Lost RabbitMQ at {self.link.params.redacted()} and could not reconnect "
                f"after {failures} attempt(s): {exc!r}")
            raise self.connection_lost from exc
        if not self._failing:
            self._failing = True
            logger.warning("RabbitMQ consumer connection lost (%r); reconnecting", exc)
        return backoff_wait(failures - 1)

    # -- fetch ------------------------------------------------------------------------------
    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` deliveries, waiting at most ``timeout`` s for the first.

        The lock is held only to read frames that are already there; the wait for the
        socket happens without it (``Link.wait_readable``), so the worker's acks, QoS updates
        and heartbeats from other threads never queue behind a blocking read.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        failures = 0
        while True:
            backoff = 0.0
            out: list[Delivery] = []
            with self.lock:
                try:
                    out = self._fetch_ready(queues, limit)
                except _FETCH_ERRORS as exc:
                    failures += 1
                    backoff = self._recover(exc, failures)
                else:
                    if self._failing:
                        self._failing = False
                        self.connection_lost = None
                        logger.info("RabbitMQ consumer connection re-established")
            left = deadline - time.monotonic()
            if out or (left <= 0 and not backoff):
                return out
            if backoff:
                self.retry_stopped.wait(backoff)
            else:
                self.link.wait_readable(min(left, _SLICE))

    def _fetch_ready(self, queues: Sequence[str], limit: int) -> list[Delivery]:
        self._ensure(queues, limit)
        buffer = self.buffer
        self.link.drain_ready(lambda: len(buffer) >= limit)
        return self._take(limit)

    def _take(self, limit: int) -> list[Delivery]:
        out: list[Delivery] = []
        generation = self.link.generation
        buffer = self.buffer
        while buffer and len(out) < limit:
            queue, message = buffer.popleft()
            info = message.delivery_info
            tag = info["delivery_tag"]
            self.unacked.add(tag)
            out.append(
                Delivery(from_amqp(message), queue, f"{generation}:{tag}", info["redelivered"])
            )
        if getattr(self.link.connection, STAND_INS, 0):
            out = self._sort_out_unreadable(out)
        return out

    def _sort_out_unreadable(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Move deliveries whose properties could not be decoded (``clients/amqp_frames.py``) to
        ``unreadable``, for the channel to set aside; return the others."""
        kept: list[Delivery] = []
        for delivery in deliveries:
            if UNREADABLE_HEADER in delivery.message.headers:
                self.unreadable.append(delivery)
            else:
                kept.append(delivery)
        connection = self.link.connection
        left = getattr(connection, STAND_INS) - (len(deliveries) - len(kept))
        setattr(connection, STAND_INS, max(left, 0))
        return kept

    # -- settle -----------------------------------------------------------------------------
    def current_tags(self, deliveries: Sequence[Delivery]) -> list[int]:
        """Delivery tags of this channel's generation; older ones are logged and skipped."""
        prefix = f"{self.link.generation}:"
        tags = []
        for delivery in deliveries:
            if delivery.tag.startswith(prefix):
                tags.append(int(delivery.tag[len(prefix) :]))
            else:
                logger.info(
                    "Not settling message %s of a previous connection; RabbitMQ redelivers it",
                    delivery.tag,
                )
        return tags

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        with self.lock:
            tags = [t for t in self.current_tags(deliveries) if t in self.unacked]
            if not tags or not self.link.is_open:
                return
            tags.sort()
            try:
                self._send_acks(tags)
            except AMQP_ERRORS as exc:
                logger.warning("Acknowledgement lost with the connection (%r); redelivery", exc)
                self.link.reset()

    def _send_acks(self, tags: list[int]) -> None:
        """One ``multiple=True`` ack when it covers exactly these tags, else single acks."""
        channel = self.link.channel()
        top = tags[-1]
        below = sum(1 for t in self.unacked if t <= top)
        self.unacked.difference_update(tags)
        if below == len(tags):
            channel.basic_ack(top, multiple=True)
            return
        with self.link.corked():
            for tag in tags:
                channel.basic_ack(tag)

    def requeue(self, deliveries: Sequence[Delivery]) -> None:
        with self.lock:
            tags = [t for t in self.current_tags(deliveries) if t in self.unacked]
            if not tags or not self.link.is_open:
                return
            try:
                channel = self.link.channel()
                with self.link.corked():
                    for tag in tags:
                        channel.basic_reject(tag, requeue=True)
                self.unacked.difference_update(tags)
            except AMQP_ERRORS as exc:
                logger.warning("Reject lost with the connection (%r); redelivery", exc)
                self.link.reset()

    def is_current(self, delivery: Delivery) -> bool:
        return delivery.tag.startswith(f"{self.link.generation}:") and self.link.is_open

    # -- liveness -------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Send and check heartbeats, read pending frames (deliveries go to the buffer)."""
        with self.lock:
            if not self.link.is_open:
                return
            try:
                self.link.heartbeat_tick()
            except AMQP_ERRORS as exc:
                logger.warning("RabbitMQ consumer connection failed its heartbeat: %r", exc)
                self.link.reset()
                self.buffer.clear()
                self.unacked.clear()

    def close(self) -> None:
        with self.lock:
            self.buffer.clear()
            self.unacked.clear()
            self.link.close()


__all__ = ["ConsumerLink"]
