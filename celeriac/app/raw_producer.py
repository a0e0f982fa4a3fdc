"""``conn.Producer()`` / ``app.producer_or_acquire()``: publish any payload, not only tasks.

kombu's ``Producer.publish`` arguments, on celeriac's transports. A message to a named
exchange is routed to the queues of ``declare=`` bound to it (kombu ``Queue`` objects or
celeriac's), so Celery's documented pattern (``exchange=my_queue.exchange,
routing_key='routing_key', declare=[my_queue]``) reaches ``my_queue`` on every broker; other
exchanges are routed by the transport, from ``task_queues``. The message travels as kombu
lays messages out, so kombu consumers read it back as the same body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.app.broker_connection import retrying
from celeriac.protocol.message import TaskMessage
from celeriac.routing import Exchange, Queue
from celeriac.serialization.compression import compress
from celeriac.serialization.registry import dumps
from celeriac.transport.base import DEFAULT_EXCHANGE, Outbound
from celeriac.transport.emulation import ExchangeTable
from celeriac.utils.ids import new_id

if TYPE_CHECKING:
    from celeriac.app.broker_connection import BrokerConnection
    from celeriac.transport.base import Channel

#: kombu's publish arguments celeriac has no equivalent for: refused when set.
_UNSUPPORTED = ("mandatory", "immediate", "timeout", "confirm_timeout")


def as_queue(queue: Any) -> Queue:
    """A celeriac ``Queue`` from one of celeriac's, a kombu ``Queue`` or a queue name."""
    if isinstance(queue, Queue):
        return queue
    if isinstance(queue, str):
        return Queue(queue)
    exchange = getattr(queue, "exchange", None)
    name = str(getattr(exchange, "name", exchange) or "")
    kind = str(getattr(exchange, "type", None) or "direct")
    return Queue(str(queue.name), Exchange(name, type=kind) if name else None,
                 str(getattr(queue, "routing_key", None) or ""))


class RawProducer:
    """Publishes on its connection's channel; ``serializer`` defaults to ``task_serializer``."""

    def __init__(self, connection: BrokerConnection, serializer: str | None = None) -> None:
        self.connection = connection
        self.serializer = serializer or str(connection.app.conf.task_serializer or "json")

    def __enter__(self) -> RawProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def publish(self, body: Any, routing_key: str | None = None,
                delivery_mode: int | None = None, priority: int | None = None,
                content_type: str | None = None, content_encoding: str | None = None,
                serializer: str | None = None, headers: Mapping[str, Any] | None = None,
                compression: str | None = None, exchange: str | Any = DEFAULT_EXCHANGE,
                retry: bool = False, retry_policy: Mapping[str, Any] | None = None,
                declare: Iterable[Any] = (), expiration: float | None = None,
                **properties: Any) -> None:
        """Publish ``body`` as kombu's ``Producer.publish`` does.

        ``body`` is serialized with ``serializer`` unless ``content_type`` is given (then it
        must be ``bytes`` or ``str``). ``retry`` retries connection errors per
        ``retry_policy`` (kombu's keys). ``mandatory=``, ``immediate=``, ``timeout=`` and
        ``confirm_timeout=`` raise ``TypeError``. Other keywords are message properties.
        """
        refused = [name for name in _UNSUPPORTED if properties.pop(name, None)]
        if refused:
            raise TypeError(f"publish() does not support {', '.join(refused)} in celeriac")
        if content_type is None:
            content_type, content_encoding, data = dumps(body, serializer or self.serializer)
        else:
            data = body.encode(content_encoding or "utf-8") if isinstance(body, str) else body
        message_headers = dict(headers or {})
        if compression:
            data, message_headers["compression"] = compress(bytes(data), compression)
        for name, value in (("delivery_mode", delivery_mode), ("priority", priority)):
            if value is not None:
                properties[name] = value
        if expiration is not None:  # kombu's: seconds, sent as milliseconds
            properties["expiration"] = str(int(expiration * 1000))
        message = TaskMessage(headers=message_headers,
                              properties={"correlation_id": new_id(), **properties},
                              body=bytes(data), content_type=content_type,
                              content_encoding=content_encoding or "utf-8")
        queues = [as_queue(queue) for queue in declare]
        exchange_name = str(getattr(exchange, "name", exchange) or "")

        native = self.connection.transport.capabilities.native_routing

        def send() -> None:
            channel = self.connection.default_channel
            _declare(channel, queues, exchange_name, routing_key or "")
            channel.publish(_outbounds(message, [] if native else queues, exchange_name,
                                       routing_key or ""))

        if retry:
            retrying(send, **{"max_retries": None, **(retry_policy or {})})
        else:
            send()


def _declare(channel: Channel, queues: Sequence[Queue], exchange: str, key: str) -> None:
    names = [queue.name for queue in queues]
    if not exchange and key:
        names.append(key)
    declare_entities = getattr(channel, "declare_entities", None)
    if declare_entities is not None and queues:  # AMQP: the real exchanges and bindings
        declare_entities(queues)
    if names:
        channel.declare(names)


def _outbounds(message: TaskMessage, queues: Sequence[Queue], exchange: str,
               key: str) -> list[Outbound]:
    """One message per declared queue bound to ``exchange`` that takes ``key``; else the
    message as addressed (the transport routes it: always so on AMQP, whose broker knows
    the bindings ``_declare`` made)."""
    table = ExchangeTable(queues)
    if exchange and table.bindings.get(exchange):
        return [Outbound(message, routing_key=name) for name in table.route(exchange, key)]
    return [Outbound(message, routing_key=key, exchange=exchange)]


__all__ = ["RawProducer", "as_queue"]
