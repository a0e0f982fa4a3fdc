"""Fanout on Redis in kombu's layout: PUB/SUB for broadcasts, plain lists for pidbox replies.

wire-protocol.md §2.6, as kombu's Redis channel does it (``fanout_prefix`` and
``fanout_patterns`` on, their defaults):

* **broadcast**: ``PUBLISH <global_keyprefix>/<db>.<exchange>[/<routing_key>] <envelope>``;
  the ``/<routing_key>`` suffix only when the key is not empty. Sent pipelined, replies read
  later (``publisher.py``). The envelope is the same kombu JSON envelope as for tasks, with
  ``delivery_info.exchange`` = the exchange, and a JSON body as text (``body_encoding:
  null``, which kombu reads).
* **subscribe**: ``PSUBSCRIBE`` with ``#`` turned into ``*``. Pattern ``""`` listens to the bare
  channel (what pidbox uses), ``"#"`` to the bare channel *and* every suffix.
* **replies** (``send_reply``): ``LPUSH <global_keyprefix><routing_key>.<exchange>``, i.e. the
  list ``<oid>.reply.celery.pidbox`` that kombu's client BRPOPs, framed as kombu frames it.
* **reply routing** (``bind_reply_queue``): a Celery worker finds that list through the
  binding row ``<oid>\\x06\\x16\\x06\\x16<oid>.reply.celery.pidbox`` in
  ``_kombu.binding.reply.celery.pidbox``; a celeriac client adds it before its first command
  and ``unbind_reply_queue`` removes it with the list.

Redis pub/sub is not database-scoped; the ``/<db>.`` prefix is what keeps databases apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.exceptions import InvalidMessage
from celeriac.protocol.envelope import decode_envelope, encode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.transport.redis.keys import KeyLayout, as_text
from celeriac.transport.redis.publisher import PipelinedPublisher

T = TypeVar("T")

logger = logging.getLogger(__name__)


class RedisFanout:
    """Broadcast, subscribe and pidbox replies over one redis-py client."""

    def __init__(self, client: Any, layout: KeyLayout, db: int | None = None) -> None:
        self.client = client
        self.layout = layout
        if db is None:
            db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
        self.db = db
        self.publisher = PipelinedPublisher(client)

    def topic(self, exchange: str, routing_key: str = "") -> str:
        base = f"{self.layout.prefix}/{self.db}.{exchange}"
        return f"{base}/{routing_key}" if routing_key else base

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        payload = encode_envelope(message, exchange=exchange, routing_key=routing_key,
                                  text_body=True)
        self.publisher.publish(self.topic(exchange, routing_key), payload)

    def subscribe(self, exchange: str, pattern: str = "#") -> RedisSubscription:
        if pattern == "":
            topics = [self.topic(exchange)]
        elif pattern == "#":
            topics = [self.topic(exchange), self.topic(exchange, "*")]
        else:
            topics = [self.topic(exchange, pattern.replace("#", "*"))]
        return RedisSubscription(self.client, topics)

    # -- pidbox replies --------------------------------------------------------------------
    def reply_list(self, exchange: str, routing_key: str) -> str:
        return f"{self.layout.prefix}{routing_key}.{exchange}"

    def send_reply(self, exchange: str, routing_key: str, message: TaskMessage) -> None:
        """LPUSH ``message`` onto ``<routing_key>.<exchange>`` exactly as a kombu node does."""
        payload = encode_envelope(message, exchange=exchange, routing_key=routing_key)
        self.client.lpush(self.reply_list(exchange, routing_key), payload)

    def bind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        member = self.layout.binding_member(routing_key, "", queue)
        self.client.sadd(self.layout.binding(exchange), member)

    def unbind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        member = self.layout.binding_member(routing_key, "", queue)
        pipe = self.client.pipeline(transaction=False)
        pipe.srem(self.layout.binding(exchange), member)
        pipe.delete(*self.layout.buckets(queue))
        pipe.execute()


class RedisSubscription:
    """A PSUBSCRIBE on a connection of its own; confirmed before the constructor returns."""

    def __init__(self, client: Any, topics: list[str], confirm_timeout: float = 5.0) -> None:
        self.topics = topics
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe(*topics)
        self._confirm(len(topics), confirm_timeout)
        self.pubsub.ignore_subscribe_messages = True

    def _confirm(self, count: int, timeout: float) -> None:
        """Wait for the subscribe acknowledgements: later broadcasts are then sure to arrive."""
        deadline = time.monotonic() + timeout
        while count > 0 and time.monotonic() < deadline:
            reply = self.pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.01))
            if reply is not None and as_text(reply["type"]) == "psubscribe":
                count -= 1

    def get(self, timeout: float) -> list[TaskMessage]:
        messages: list[TaskMessage] = []
        reply = self.pubsub.get_message(timeout=max(timeout, 0.0))
        while reply is not None:
            message = self._decode(reply)
            if message is not None:
                messages.append(message)
            reply = self.pubsub.get_message(timeout=0.0)
        return messages

    @staticmethod
    def _decode(reply: dict[str, Any]) -> TaskMessage | None:
        if as_text(reply.get("type") or b"") not in ("pmessage", "message"):
            return None
        channel = as_text(reply.get("channel") or b"")
        try:
            message = decode_envelope(reply["data"], strict=False)
        except InvalidMessage as exc:
            logger.warning("Ignoring an unreadable broadcast on %s: %s", channel, exc)
            return None
        _, _, routing_key = channel.partition("/")[2].partition("/")
        message.extra["routing_key"] = routing_key
        return message

    def close(self) -> None:
        try:
            self.pubsub.punsubscribe()
        except Exception:  # closing a dead connection must not raise
            logger.debug("PUNSUBSCRIBE failed", exc_info=True)
        self.pubsub.close()


__all__ = ["RedisFanout", "RedisSubscription"]


class FanoutMethods:
    """The ``FanoutChannel`` side of ``RedisChannel``, delegating to its ``RedisFanout``.

    Kept here so the channel module stays about queues and leases; the channel builds
    ``self.fanout`` in its constructor. Each command is one attempt through the channel's
    ``_call``, so a stopped server is an ``OperationalError`` sentence (``celeriac inspect``
    prints it), not a redis-py traceback; the remote-control client has its own timeout.
    """

    fanout: RedisFanout

    if TYPE_CHECKING:
        def _call(self, fn: Callable[[], T], what: str, retry: bool = True) -> T: ...

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        self._call(lambda: self.fanout.broadcast(exchange, message, routing_key),
                   "broadcast a message", retry=False)

    def subscribe(self, exchange: str, pattern: str = "#") -> RedisSubscription:
        return self.fanout.subscribe(exchange, pattern)

    def send_reply(self, exchange: str, routing_key: str, message: TaskMessage) -> None:
        self._call(lambda: self.fanout.send_reply(exchange, routing_key, message),
                   "send a control reply", retry=False)

    def bind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        self._call(lambda: self.fanout.bind_reply_queue(exchange, routing_key, queue),
                   "bind the control reply queue", retry=False)

    def unbind_reply_queue(self, exchange: str, routing_key: str, queue: str) -> None:
        self._call(lambda: self.fanout.unbind_reply_queue(exchange, routing_key, queue),
                   "unbind the control reply queue", retry=False)
