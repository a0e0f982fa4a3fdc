"""Celery's pidbox on any broker: command and reply shapes, and the client that collects replies.

Wire shapes (wire-protocol.md §6.1), shared by the client here and the worker's ``ControlNode``:

* a command is broadcast on the fanout exchange ``celery.pidbox`` (routing key ``''``) with
  headers ``{"clock": n, "expires": <epoch s>}`` and a JSON body ``{"method", "arguments",
  "destination", "pattern", "matcher", "ticket", "reply_to"}``; a command that wants no reply
  carries neither ``ticket`` nor ``reply_to``;
* a reply goes to the plain queue ``<oid>.reply.celery.pidbox`` (exchange
  ``reply.celery.pidbox``, routing key ``<oid>``) with headers ``{"ticket", "clock"}`` and a
  body ``{<nodename>: <answer>}``.

Replies are read with the ordinary ``fetch``/``ack`` of the channel, so every broker that
implements ``FanoutChannel`` gets remote control with no more code. Two optional channel hooks
let a broker match kombu's layout more closely: ``bind_reply_queue(exchange, routing_key,
queue)`` (Redis: the binding row a Celery worker routes its reply through; RabbitMQ: the
exclusive reply queue and its binding, declared on the connection that reads it) and
``unbind_reply_queue(...)`` (called by ``close``). A worker subscribes through
``subscribe_node``, which names its queue where the broker has one (``subscribe_named``).
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from celeriac.exceptions import ImproperlyConfigured, InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.serialization.json_codec import json_dumps, json_loads
from celeriac.transport.base import Channel, FanoutChannel, Subscription
from celeriac.utils.lamport import LamportClock  # re-exported: moved down for events

logger = logging.getLogger(__name__)

PIDBOX_EXCHANGE = "celery.pidbox"
REPLY_EXCHANGE = "reply.celery.pidbox"
JSON = "application/json"
#: How often a collection with a ``stop`` event looks at it (seconds).
STOP_SLICE = 0.1

Reply = dict[str, Any]


def pidbox_exchanges(control_exchange: str = "celery") -> tuple[str, str]:
    """The command and reply exchanges of ``control_exchange``, named as kombu's ``Mailbox``
    names them: ``<name>.pidbox`` and ``reply.<name>.pidbox``."""
    return f"{control_exchange}.pidbox", f"reply.{control_exchange}.pidbox"


def reply_queue_name(routing_key: str, exchange: str = REPLY_EXCHANGE) -> str:
    """kombu's reply queue name: ``<oid>.reply.celery.pidbox``."""
    return f"{routing_key}.{exchange}"


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """One pidbox command as Celery lays it out (wire-protocol.md §6.1)."""

    method: str
    arguments: dict[str, Any] = field(default_factory=dict)
    destination: list[str] | None = None
    pattern: str | None = None
    matcher: str | None = None
    ticket: str | None = None
    reply_to: dict[str, str] | None = None
    expires: float | None = None
    clock: int = 0

    def to_message(self) -> TaskMessage:
        body: dict[str, Any] = {
            "method": self.method,
            "arguments": self.arguments,
            "destination": self.destination,
            "pattern": self.pattern,
            "matcher": self.matcher,
        }
        if self.ticket is not None:
            body["ticket"] = self.ticket
            body["reply_to"] = self.reply_to
        headers: dict[str, Any] = {"clock": self.clock}
        if self.expires is not None:
            headers["expires"] = self.expires
        return TaskMessage(headers=headers, properties={"delivery_mode": 2, "priority": 0},
                           body=json_dumps(body), content_type=JSON)

    @classmethod
    def from_message(cls, message: TaskMessage) -> ControlRequest:
        """Parse a broadcast; raises ``InvalidMessage`` naming what is wrong."""
        body = _json_body(message)
        method = body.get("method")
        if not isinstance(method, str):
            raise InvalidMessage("pidbox command lacks a string 'method'")
        arguments = body.get("arguments")
        arguments = {} if arguments is None else arguments
        if not isinstance(arguments, dict):
            raise InvalidMessage(f"pidbox 'arguments' of {method!r} is not an object")
        destination = body.get("destination")
        if isinstance(destination, str):
            destination = [destination]
        reply_to = body.get("reply_to")
        expires = message.headers.get("expires")
        clock = message.headers.get("clock")
        return cls(
            method=method,
            arguments=arguments,
            destination=list(destination) if destination else None,
            pattern=body.get("pattern"),
            matcher=body.get("matcher"),
            ticket=body.get("ticket"),
            reply_to=reply_to if isinstance(reply_to, dict) else None,
            expires=float(expires) if isinstance(expires, int | float) else None,
            clock=clock if isinstance(clock, int) else 0,
        )

    def addressed_to(self, hostname: str) -> bool:
        """Whether ``hostname`` must act: listed, matching the pattern, or everyone."""
        if self.destination:
            return hostname in self.destination
        if self.pattern:
            if self.matcher == "pcre":
                return re.match(self.pattern, hostname) is not None
            return fnmatch.fnmatchcase(hostname, self.pattern)
        return True

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (now or time.time()) > self.expires


def _json_body(message: TaskMessage) -> dict[str, Any]:
    if "json" not in message.content_type:
        raise InvalidMessage(f"pidbox message has content type {message.content_type!r}, "
                             "only JSON is spoken on the control plane")
    try:
        body = json_loads(message.body)
    except ValueError as exc:
        raise InvalidMessage(f"pidbox body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidMessage("pidbox body is nested too deeply to decode") from exc
    if not isinstance(body, dict):
        raise InvalidMessage(f"pidbox body is a JSON {type(body).__name__}, expected an object")
    return cast(dict[str, Any], body)


def build_reply(hostname: str, ticket: str, value: Any, clock: int) -> TaskMessage:
    """The reply message a node sends for ``ticket``: body ``{hostname: value}``."""
    return TaskMessage(headers={"ticket": ticket, "clock": clock},
                       properties={"delivery_mode": 1, "priority": 0},
                       body=json_dumps({hostname: value}), content_type=JSON)


def parse_reply(message: TaskMessage) -> tuple[str | None, Reply]:
    """``(ticket, body)`` of a reply message."""
    ticket = message.headers.get("ticket")
    return (ticket if isinstance(ticket, str) else None), _json_body(message)


def remote_control_unavailable(broker: str) -> str:
    """Why remote control cannot work on ``broker``, and on which brokers it does."""
    return (
        f"Remote control (inspect, control, revoke) is not available on the {broker} broker: "
        "it has no broadcast (fanout). It works with RabbitMQ (amqp://, amqps://), Redis "
        "(redis://, rediss://, sentinel://), SQLite (sqlite://) and memory:// brokers"
    )


def node_queue_name(hostname: str, exchange: str = PIDBOX_EXCHANGE) -> str:
    """kombu's per-node pidbox queue: ``<nodename>.celery.pidbox``."""
    return f"{hostname}.{exchange}"


def subscribe_node(channel: FanoutChannel, hostname: str,
                   exchange: str = PIDBOX_EXCHANGE) -> Subscription:
    """A worker's subscription to the pidbox, through ``<nodename>.celery.pidbox`` where the
    broker has subscriber queues (RabbitMQ: the channel's optional ``subscribe_named``; that
    queue is exclusive, so a second worker of the same name cannot listen). Brokers without
    subscriber queues (Redis, SQLite, memory) have no queue to name: plain ``subscribe``."""
    named = getattr(channel, "subscribe_named", None)
    if callable(named):
        return cast(Subscription, named(exchange, "#", node_queue_name(hostname, exchange)))
    return channel.subscribe(exchange, "#")


def fanout_channel(channel: Channel, broker: str) -> FanoutChannel:
    """``channel`` as a ``FanoutChannel``, or an error saying remote control is unavailable."""
    if not isinstance(channel, FanoutChannel):
        raise ImproperlyConfigured(remote_control_unavailable(broker))
    return channel


class Mailbox:
    """The client side of the pidbox: broadcast a command, collect replies by ticket.

    One mailbox per process identity (``oid``); it owns ``channel`` and closes it.
    """

    def __init__(self, channel: Channel, oid: str, *, broker: str = "this broker",
                 exchange: str = PIDBOX_EXCHANGE, reply_exchange: str = REPLY_EXCHANGE) -> None:
        self.channel = channel
        self.fanout = fanout_channel(channel, broker)
        self.oid = oid
        self.exchange = exchange
        self.reply_exchange = reply_exchange
        self.reply_queue = reply_queue_name(oid, reply_exchange)
        self.clock = LamportClock()
        self._lock = threading.Lock()
        self._bound = False
        self._counter = itertools.count()

    def _bind(self) -> None:
        if self._bound:
            return
        bind = getattr(self.channel, "bind_reply_queue", None)
        if callable(bind):
            bind(self.reply_exchange, self.oid, self.reply_queue)
        self._bound = True

    def call(self, method: str, arguments: dict[str, Any] | None = None, *,
             destination: Sequence[str] | None = None, pattern: str | None = None,
             matcher: str | None = None, reply: bool = True, timeout: float = 1.0,
             limit: int | None = None,
             callback: Callable[[Reply], None] | None = None,
             stop: threading.Event | None = None) -> list[Reply]:
        """Broadcast ``method``; with ``reply``, return the replies received within ``timeout``.

        Collection stops early once ``limit`` replies came (default: one per named
        destination, as Celery does), or within a tenth of a second once ``stop`` is set
        (a worker shutting down ends its start-up check so).
        """
        request = ControlRequest(
            method=method, arguments=dict(arguments or {}),
            destination=list(destination) if destination else None,
            pattern=pattern, matcher=matcher,
            ticket=str(uuid.uuid4()) if reply else None,
            reply_to={"exchange": self.reply_exchange, "routing_key": self.oid} if reply else None,
            expires=time.time() + timeout, clock=self.clock.forward(),
        )
        with self._lock:  # replies are read by ticket; one collection at a time per queue
            if reply:
                self._bind()
            self.fanout.broadcast(self.exchange, request.to_message())
            if not reply or request.ticket is None:
                return []
            if limit is None and destination:
                limit = len(destination)
            return self._collect(request.ticket, timeout, limit, callback, stop)

    def _collect(self, ticket: str, timeout: float, limit: int | None,
                 callback: Callable[[Reply], None] | None,
                 stop: threading.Event | None = None) -> list[Reply]:
        replies: list[Reply] = []
        deadline = time.monotonic() + timeout
        while limit is None or len(replies) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                break
            want = 100 if limit is None else limit - len(replies)
            wait = remaining if stop is None else min(remaining, STOP_SLICE)
            deliveries = self.channel.fetch([self.reply_queue], want, wait)
            if deliveries:
                self.channel.ack(deliveries)
            for delivery in deliveries:
                try:
                    got, body = parse_reply(delivery.message)
                except InvalidMessage as exc:
                    logger.warning("Ignoring an unreadable pidbox reply: %s", exc)
                    continue
                self.clock.adjust(delivery.message.headers.get("clock"))
                if got is not None and got != ticket:
                    logger.debug("Ignoring a late reply for ticket %s", got)
                    continue
                replies.append(body)
                if callback is not None:
                    callback(body)
        return replies

    def close(self) -> None:
        """Drop the reply queue's routing (where the broker has one) and the channel."""
        unbind = getattr(self.channel, "unbind_reply_queue", None)
        if self._bound and callable(unbind):
            try:
                unbind(self.reply_exchange, self.oid, self.reply_queue)
            except Exception:  # closing must not hide the caller's own error
                logger.debug("Could not unbind %s", self.reply_queue, exc_info=True)
        self.channel.close()


__all__ = [
    "PIDBOX_EXCHANGE",
    "REPLY_EXCHANGE",
    "ControlRequest",
    "LamportClock",
    "Mailbox",
    "Reply",
    "build_reply",
    "fanout_channel",
    "node_queue_name",
    "parse_reply",
    "pidbox_exchanges",
    "remote_control_unavailable",
    "reply_queue_name",
    "subscribe_node",
]
