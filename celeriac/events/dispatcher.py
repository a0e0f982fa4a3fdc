"""``EventDispatcher``: sends Celery events on the ``celeryev`` exchange of any fanout broker.

The message is what kombu's ``Producer.publish`` makes of Celery's event (wire-protocol.md
§6.2): body per ``event_serializer`` (JSON by default), headers ``{"hostname": <sender>}``,
``delivery_mode`` 1, routing key = type with ``-`` → ``.``, broadcast through
``FanoutChannel.broadcast`` (Redis: ``PUBLISH /<db>.celeryev/<routing key>``).

Batching, as Celery's worker does it: events of a *buffered* group (the worker buffers
``task``) are kept and sent as one JSON list with routing key ``task.multi``. ``flush`` sends
the buffer; it also goes out by itself once ``buffer_limit`` events wait. The worker's consumer
calls ``flush_due`` every loop round, which flushes once the oldest event has waited
``max_delay`` (0.1 s): a monitor sees an event at most ~0.15 s late. Celery flushes every loop
iteration or at 24 events; measured on the Redis bench, one broadcast per round still cost
celeriac's short tasks ~20% of their drain rate, one per 0.1 s or 500 events costs a few %.

Events are volatile, as in kombu: a broadcast that fails is logged and dropped (the worker
never stops for a monitor), unless the caller asks for ``retry`` with a policy.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from celeriac.clients.retry import PUBLISH_RETRY, RetryPolicy
from celeriac.events.event import event, group_of, routing_key_of, utcoffset
from celeriac.protocol.message import TaskMessage
from celeriac.serialization import registry
from celeriac.transport.base import Channel, FanoutChannel
from celeriac.utils.lamport import LamportClock

logger = logging.getLogger(__name__)

EVENT_EXCHANGE: Final = "celeryev"
#: Flush the buffer once this many events wait, even mid-round. Large, because one broadcast
#: per batch is the point; Celery's 24 costs a round trip per 8 trivial tasks.
BUFFER_LIMIT: Final = 500
MULTI_ROUTING_KEY: Final = "task.multi"
#: How long the oldest buffered event may wait for ``flush_due`` (the worker's flush policy).
MAX_DELAY: Final = 0.1
#: Seconds a computed ``utcoffset`` is reused.
OFFSET_TTL: Final = 60.0
JSON: Final = "application/json"


class EventDispatcher:
    """Builds and broadcasts events; thread-safe. See the module docstring.

    Args:
        channel: where to broadcast; one that is not a ``FanoutChannel`` (a broker without
            broadcast) leaves the dispatcher disabled, with one warning.
        hostname: the sender's node name (``hostname`` field and header).
        enabled: send nothing when false.
        groups: send only events of these groups (``task``, ``worker``); None: every group.
        buffer_group: groups whose events wait for ``flush`` (the worker: ``{"task"}``).
        owns_channel: ``close`` closes ``channel`` too.
    """

    def __init__(self, channel: Channel | None, hostname: str, *, enabled: bool = True,
                 groups: Iterable[str] | None = None, exchange: str = EVENT_EXCHANGE,
                 serializer: str = "json", buffer_group: Iterable[str] | None = None,
                 buffer_limit: int = BUFFER_LIMIT, clock: LamportClock | None = None,
                 owns_channel: bool = False, max_delay: float = MAX_DELAY) -> None:
        self.channel = channel
        self.hostname = hostname
        self.exchange = exchange
        self.serializer = serializer
        self.groups: set[str] | None = set(groups) if groups is not None else None
        self.buffer_group = frozenset(buffer_group or ())
        self.buffer_limit = max(1, buffer_limit)
        self.max_delay = max_delay
        self._due = 0.0
        self.clock = clock or LamportClock()
        self.pid = os.getpid()
        self.owns_channel = owns_channel
        self.fanout: FanoutChannel | None = (
            channel if isinstance(channel, FanoutChannel) else None)
        if enabled and channel is not None and self.fanout is None:
            logger.warning("Events are not sent: the %s broker channel cannot broadcast",
                           type(channel).__name__)
        self.enabled = enabled and self.fanout is not None
        self._pending: deque[dict[str, Any]] = deque()
        self._flush_lock = threading.Lock()
        self._failing = False
        self._offset = utcoffset()
        self._offset_until = time.monotonic() + OFFSET_TTL

    # -- sending ---------------------------------------------------------------------------
    def wants(self, type_: str) -> bool:
        """Whether an event of ``type_`` would be sent now (cheap; check before building)."""
        groups = self.groups
        return self.enabled and (groups is None or group_of(type_) in groups)

    def send(self, type_: str, *, blind: bool = False, retry: bool = False,
             retry_policy: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Send an event of ``type_`` with ``fields``, or buffer it (``buffer_group``).

        ``blind`` sends no clock (``clock: null``), as Celery's ``blind`` events.
        ``retry`` retries a failing broadcast per ``retry_policy`` (Celery's shape); without
        it a failure drops the event.
        """
        if not self.wants(type_):
            return
        if group_of(type_) in self.buffer_group:
            self.buffer(type_, fields)
            return
        clock = None if blind else self.clock.forward()
        built = event(type_, self.hostname, self.pid, clock, self.utcoffset(), fields)
        self._broadcast(built, routing_key_of(type_),
                        _policy(retry_policy) if retry else None)

    def publish(self, type_: str, fields: Mapping[str, Any], *, retry: bool = False,
                retry_policy: Mapping[str, Any] | None = None) -> None:
        """Celery's ``publish``: send at once, ignoring ``enabled``/``groups``/buffering."""
        if self.fanout is None:
            return
        built = event(type_, self.hostname, self.pid, self.clock.forward(), self.utcoffset(),
                      fields)
        self._broadcast(built, routing_key_of(type_), _policy(retry_policy) if retry else None)

    def buffer(self, type_: str, fields: Mapping[str, Any]) -> None:
        """Buffer an event of ``type_`` for the next ``flush``, unfiltered (the caller knows
        it is wanted)."""
        self.buffer_event({"hostname": self.hostname, "utcoffset": 0.0, "pid": self.pid,
                           "clock": 0, **fields, "timestamp": time.time(), "type": type_})

    def buffer_event(self, event: dict[str, Any]) -> None:
        """Buffer a whole event dict, built by the caller in Celery's key order with
        placeholders for ``utcoffset`` and ``clock``: the worker's hot path (three per task).

        Nothing here takes a lock or ticks the clock: the deque's ``append`` is atomic, and
        ``flush`` stamps the batch's clocks in buffer order with one tick of the clock, and
        its ``utcoffset``. Building the event at the call site saves a second dict per event.
        """
        pending = self._pending
        if not pending:
            self._due = time.monotonic() + self.max_delay
        pending.append(event)
        if len(pending) >= self.buffer_limit:
            self.flush()

    def utcoffset(self) -> float:
        """``utcoffset()``, re-read once a minute (it only changes with DST)."""
        if time.monotonic() >= self._offset_until:
            self._offset = utcoffset()
            self._offset_until = time.monotonic() + OFFSET_TTL
        return self._offset

    def flush_due(self) -> None:
        """``flush`` if the oldest buffered event has waited ``max_delay`` seconds."""
        if self._pending and time.monotonic() >= self._due:
            self.flush()

    def flush(self) -> None:
        """Send the buffered events now, as ``task.multi`` lists of at most ``buffer_limit``.

        Events buffered by another thread while this runs wait for the next flush; flushes
        are serialised so that batches leave in clock order.
        """
        pending = self._pending
        if not pending:
            return
        with self._flush_lock:
            count = min(len(pending), self.buffer_limit)
            while count:
                self._broadcast(self._built(pending, count), MULTI_ROUTING_KEY, None)
                count = min(len(pending), self.buffer_limit)

    def _built(self, pending: deque[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        """The first ``count`` buffered events, taken off ``pending``, stamped with
        consecutive clocks and the current ``utcoffset``."""
        offset = self.utcoffset()
        popleft = pending.popleft
        events = []
        for tick in range(first := self.clock.forward_many(count), first + count):
            event = popleft()
            event["utcoffset"] = offset
            event["clock"] = tick
            events.append(event)
        return events

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Flush, then close the channel if this dispatcher opened it."""
        try:
            self.flush()
        finally:
            if self.owns_channel and self.channel is not None:
                self.channel.close()

    def __enter__(self) -> EventDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the wire --------------------------------------------------------------------------
    def message(self, payload: Any) -> TaskMessage:
        """The kombu-compatible message for an event (a dict) or a batch (a list).

        JSON of plain data (every event celeriac builds) goes through the fast encoder;
        anything else through the serializer registry, kombu's type markers included.
        """
        body = None
        if self.serializer == "json" and _plain_json is not None:
            try:
                body = _plain_json(payload)
            except (TypeError, ValueError):
                body = None
        if body is not None:
            content_type, encoding = JSON, "utf-8"
        else:
            content_type, encoding, body = registry.dumps(payload, self.serializer)
        return TaskMessage(headers={"hostname": self.hostname},
                           properties={"delivery_mode": 1, "priority": 0},
                           body=body, content_type=content_type, content_encoding=encoding)

    def _broadcast(self, payload: Any, routing_key: str, policy: RetryPolicy | None) -> None:
        fanout = self.fanout
        if fanout is None:
            return
        message = self.message(payload)
        intervals = iter(policy.intervals()) if policy is not None else iter(())
        while True:
            try:
                fanout.broadcast(self.exchange, message, routing_key)
            except Exception as exc:
                wait = next(intervals, None)
                if wait is not None:
                    time.sleep(wait)
                    continue
                self._dropped(routing_key, exc)
                return
            if self._failing:
                self._failing = False
                logger.info("Sending events again")
            return

    def _dropped(self, routing_key: str, exc: Exception) -> None:
        """Log the first failure of an outage as a warning, the rest at debug."""
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        logger.log(level, "Could not send event %s, dropped: %r", routing_key, exc)


try:
    import orjson
except ImportError:  # pragma: no cover - the standard library path is registry.dumps
    _plain_json: Callable[[Any], bytes] | None = None
else:
    # Only plain JSON types: a datetime, dataclass or subclass makes it raise, and the
    # registry's encoder (kombu's type markers) takes over, as Celery would encode it.
    _PLAIN_ONLY: Final = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                          | orjson.OPT_PASSTHROUGH_SUBCLASS)

    def _plain_json(obj: Any) -> bytes:
        return orjson.dumps(obj, option=_PLAIN_ONLY)


def _policy(policy: Mapping[str, Any] | None) -> RetryPolicy:
    return RetryPolicy.from_mapping(policy, PUBLISH_RETRY)


__all__ = ["BUFFER_LIMIT", "EVENT_EXCHANGE", "MULTI_ROUTING_KEY", "EventDispatcher"]
