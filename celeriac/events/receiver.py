"""Receiving Celery events: ``EventReceiver``, with Celery's constructor and capture loop.

A receiver subscribes to the ``celeryev`` fanout exchange (``event_exchange``) through the
broker channel's ``FanoutChannel`` side (Redis PUB/SUB, the SQLite and memory fanout tables,
RabbitMQ's topic exchange), decodes each message and calls the handler registered for the
event's type, or the ``'*'`` handler. It works the same whether the sender is a Celery worker
or a celeriac one: the body is a single event object, or a JSON list of them (a worker's
``task.multi`` batch, wire-protocol.md §6.2).

Each event is completed as Celery's receiver completes it before any handler sees it:
its Lamport ``clock`` moves ours forward (``task-sent`` events come from clients that never
sync, so they get ours minus one), its ``timestamp`` is moved into this host's time zone
from the sender's ``utcoffset``, and ``local_received`` says when it arrived here.

``capture(limit, timeout)`` follows kombu's consumer loop: ``limit`` counts broker messages
(a ``task.multi`` batch is one), and ``timeout`` is how long it may go without any message
before it raises ``TimeoutError`` (``socket.timeout``, what Celery code catches).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from typing import Any

from celeriac.events.event import utcoffset
from celeriac.exceptions import ContentDisallowed, DecodeError, ImproperlyConfigured
from celeriac.protocol.message import TaskMessage
from celeriac.serialization.registry import loads, normalize_accept
from celeriac.transport.base import FanoutChannel, Subscription
from celeriac.utils.lamport import LamportClock

logger = logging.getLogger(__name__)

#: ``task-sent`` comes from clients, whose clocks never sync: Celery files it just before ours.
CLIENT_CLOCK_SKEW = -1

Event = dict[str, Any]
Handler = Callable[[Event], Any]


def events_unavailable(broker: str) -> str:
    """Why events cannot be received on ``broker``, and where they can."""
    return (f"Events are not available on the {broker} broker: its channel has no fanout "
            "(broadcast) support, which events travel by (Redis, SQLite and memory:// "
            "brokers have it)")


def decode_events(message: TaskMessage, accept: frozenset[str]) -> list[Event]:
    """The events in one message: a single event object, or a ``task.multi`` list of them.

    Raises:
        ContentDisallowed: the content type is not in ``accept``.
        DecodeError: the body cannot be decoded, or holds something other than events.
    """
    body = loads(message.body, message.content_type, message.content_encoding, accept)
    items = body if isinstance(body, list) else [body]
    events = [item for item in items if isinstance(item, dict) and "type" in item]
    if len(events) != len(items):
        raise DecodeError(f"not an event or a list of events: {str(body)[:200]}")
    return events


def adjust_timestamp(timestamp: float, offset: float, here: float | None = None) -> float:
    """``timestamp`` sent from a host ``offset`` hours west of UTC, as this host's time.

    Celery senders stamp local epoch seconds; a sender in another zone is thus shifted by the
    difference of the two offsets (Celery's ``celery.utils.time.adjust_timestamp``).
    """
    here = utcoffset() if here is None else here
    return timestamp - (offset - here) * 3600


class EventReceiver:
    """Capture events; ``handlers`` maps event types (``'task-succeeded'``) or ``'*'`` to
    callables taking the event dict.

    Arguments:
        channel_or_connection: a broker channel with fanout support, or a transport (a
            channel is opened on it and closed by ``close``); None: the app's broker.
        routing_key: which events, as a topic pattern on the routing key (``'task.#'``,
            ``'worker.*'``); ``'#'`` is all.
        node_id, queue_prefix: name this receiver's queue ``<prefix>.<node_id>`` on brokers
            that queue events (RabbitMQ); PUB/SUB brokers (Redis) have no queue to name.
            Without either, such a broker names it from ``event_queue_prefix``.
            queue_ttl, queue_expires, queue_exclusive, queue_durable: the queue's options
            come from the ``event_queue_*`` settings; a value given here is logged as not
            applied.
        accept: content types (or serializer names) to decode; default ``{event_serializer,
            'json'}``.
    """

    def __init__(self, channel_or_connection: Any = None,
                 handlers: Mapping[str, Handler] | None = None,
                 routing_key: str = "#", node_id: str | None = None, app: Any = None,
                 queue_prefix: str | None = None, accept: Any = None,
                 queue_ttl: float | None = None, queue_expires: float | None = None,
                 queue_exclusive: bool | None = None, queue_durable: bool | None = None) -> None:
        if app is None:
            from celeriac import _state

            app = _state.get_current_app()
        self.app = app
        conf = app.conf
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.routing_key = routing_key
        self.node_id = node_id or str(uuid.uuid4())
        self.queue_prefix = queue_prefix
        # Named only when asked: otherwise a broker that queues events names the queue from
        # ``event_queue_prefix`` itself, as every other subscriber's.
        self._named = node_id is not None or queue_prefix is not None
        self.queue_name = f"{queue_prefix or 'celeryev'}.{self.node_id}"
        self.exchange = str(conf.event_exchange or "celeryev")
        _check_queue_options(queue_ttl=queue_ttl, queue_expires=queue_expires,
                             queue_exclusive=queue_exclusive, queue_durable=queue_durable)
        if accept is None:
            accept = {conf.event_serializer or "json", "json"}
        self.accept = normalize_accept(accept)
        self.clock = _app_clock(app)
        self.channel, self._owns_channel = self._resolve_channel(channel_or_connection)
        self.should_stop = False
        self._subscription: Subscription | None = None

    # -- broker ----------------------------------------------------------------------------
    def _resolve_channel(self, given: Any) -> tuple[FanoutChannel, bool]:
        owned = False
        channel = given
        if channel is None:
            channel, owned = self.app.transport.channel(), True
        elif not isinstance(channel, FanoutChannel) and callable(getattr(channel, "channel", None)):
            channel, owned = channel.channel(), True  # a transport
        if not isinstance(channel, FanoutChannel):
            from celeriac.config.urls import scheme_of

            if owned:
                channel.close()
            raise ImproperlyConfigured(events_unavailable(f"{scheme_of(self.app.broker_url)}://"))
        return channel, owned

    def subscribe(self) -> Subscription:
        """Start listening now (``capture`` does it too): events sent from here on are seen."""
        if self._subscription is None:
            named = getattr(self.channel, "subscribe_named", None) if self._named else None
            if callable(named):  # a broker that queues events (RabbitMQ): name the queue
                self._subscription = named(self.exchange, self.routing_key, self.queue_name)
            else:
                self._subscription = self.channel.subscribe(self.exchange, self.routing_key)
        return self._subscription

    # -- Celery's API ----------------------------------------------------------------------
    def process(self, type_: str, event: Event) -> None:
        """Call the handler for ``type_``, else the ``'*'`` handler, if any."""
        handler = self.handlers.get(type_) or self.handlers.get("*")
        if handler is not None:
            handler(event)

    def event_from_message(self, body: Event, localize: bool = True,
                           now: Callable[[], float] = time.time) -> tuple[str, Event]:
        """Complete one decoded event (clock, local timestamp, ``local_received``)."""
        type_ = str(body["type"])
        if type_ == "task-sent":
            body["clock"] = (self.clock.value or 1) + CLIENT_CLOCK_SKEW
            self.clock.adjust(body["clock"])
        elif body.get("clock") is not None:
            self.clock.adjust(body["clock"])
        else:  # none sent (or ``blind``, null): ordered as received
            body["clock"] = self.clock.forward()
        if localize and "utcoffset" in body and "timestamp" in body:
            with suppress(TypeError, ValueError):  # an odd timestamp stays as sent
                body["timestamp"] = adjust_timestamp(float(body["timestamp"]),
                                                     float(body["utcoffset"]))
        body["local_received"] = now()
        return type_, body

    def receive(self, message: TaskMessage) -> list[Event]:
        """Decode ``message`` and hand each of its events to its handler; return them."""
        try:
            events = decode_events(message, self.accept)
        except (ContentDisallowed, DecodeError) as exc:
            logger.warning("Ignoring an unreadable event message: %s", exc)
            return []
        done = []
        for body in events:
            type_, event = self.event_from_message(body)
            self.process(type_, event)
            done.append(event)
        return done

    def wakeup_workers(self) -> None:
        """Ask every worker for a heartbeat now, so a new monitor sees them at once."""
        try:
            self.app.control.broadcast("heartbeat")
        except Exception as exc:  # a monitor starts even where remote control cannot
            logger.warning("Could not wake up workers (heartbeat broadcast): %s", exc)

    def itercapture(self, limit: int | None = None, timeout: float | None = None,
                    wakeup: bool = True) -> Iterator[list[Event]]:
        """Yield the events of each message as it arrives (see the module docstring)."""
        subscription = self.subscribe()
        if wakeup:
            self.wakeup_workers()
        taken = 0
        idle_since = time.monotonic()
        while not self.should_stop and (not limit or taken < limit):
            messages = subscription.get(1.0 if timeout is None else min(1.0, timeout))
            if not messages:
                if timeout and time.monotonic() - idle_since >= timeout:
                    raise TimeoutError(f"no event within {timeout} s")
                continue
            idle_since = time.monotonic()
            for message in messages:
                yield self.receive(message)
                taken += 1
                if self.should_stop or (limit and taken >= limit):
                    break

    def capture(self, limit: int | None = None, timeout: float | None = None,
                wakeup: bool = True) -> None:
        """Receive until ``limit`` messages, ``should_stop``, or ``timeout`` idle seconds."""
        for _ in self.itercapture(limit=limit, timeout=timeout, wakeup=wakeup):
            pass

    def unsubscribe(self) -> None:
        """Drop the subscription (a lost connection's, too); the next capture makes a new one."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                subscription.close()
            except Exception:  # closing what a broker restart already broke
                logger.debug("Closing the event subscription failed", exc_info=True)

    def close(self) -> None:
        """End the subscription, and the channel if this receiver opened it."""
        self.unsubscribe()
        if self._owns_channel:
            self.channel.close()  # type: ignore[attr-defined]

    def __enter__(self) -> EventReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _app_clock(app: Any) -> LamportClock:
    """The app's Lamport clock (Celery's ``app.clock``; celeriac's ``app.events.clock``), so
    what this process sends and receives is ordered on one clock; else a clock of its own."""
    for owner in (app, getattr(app, "events", None)):
        clock = getattr(owner, "clock", None)
        if isinstance(clock, LamportClock):
            return clock
    return LamportClock()


def _check_queue_options(**given: Any) -> None:
    """Celery's receiver takes the event queue's options per call; celeriac's brokers take
    them from the settings (``event_queue_ttl``...), the same for every subscriber. One given
    here is said not to apply rather than silently dropped."""
    for name, value in given.items():
        if value is not None:
            logger.warning("EventReceiver(%s=%r) is not applied: the event queue takes its "
                           "options from the event_%s setting", name, value, name)
    if given["queue_exclusive"] and given["queue_durable"]:
        raise ImproperlyConfigured(
            "Queue cannot be both exclusive and durable, choose one or the other.")


__all__ = [
    "CLIENT_CLOCK_SKEW",
    "EventReceiver",
    "adjust_timestamp",
    "decode_events",
    "events_unavailable",
]
