"""``app.connection()``: celeriac's stand-in for the ``kombu.Connection`` Celery hands out.

Celery code uses the connection for a few things: checking the broker is reachable
(``with app.connection() as conn: conn.ensure_connection(max_retries=3)``), publishing raw
messages (``conn.Producer().publish(body, routing_key=...)``) and passing it back to the app
(``apply_async(connection=conn)``). ``BrokerConnection`` does those on celeriac's own
transports (``transport/``): its ``channel()`` is a celeriac ``Channel``, not a kombu one.

An unreachable broker raises ``celeriac.exceptions.OperationalError`` (what kombu raises is
``kombu.exceptions.OperationalError``; catch celeriac's, or both). Connection arguments other
than the URL (``userid=``, ``ssl=``, ...) are refused: they belong in the URL or the
``broker_*`` settings, and accepting them silently would ignore them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.exceptions import OperationalError
from celeriac.protocol.message import TaskMessage
from celeriac.serialization.registry import dumps
from celeriac.transport.base import DEFAULT_EXCHANGE, Outbound
from celeriac.utils.ids import new_id

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transport.base import Channel, Transport

ErrBack = Callable[[Exception, float], Any]
T = TypeVar("T")


def _masked(url: str) -> str:
    """``url`` with its password replaced by ``**`` (never log a secret)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":**@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class BrokerConnection:
    """A connection to the app's broker (or ``url``), opened lazily, usable as a context.

    With the app's own broker URL it shares the app's transport (closing it releases only
    this object's channel); another URL gets a transport of its own, closed on ``release``.
    """

    def __init__(self, app: Celery, url: str | None = None) -> None:
        self.app = app
        self.url = url or app.broker_url
        self._own_transport: Transport | None = None
        self._channel: Channel | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<BrokerConnection {self.as_uri()} at {id(self):#x}>"

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def as_uri(self, include_password: bool = False) -> str:
        return self.url if include_password else _masked(self.url)

    @property
    def transport(self) -> Transport:
        if self.url == self.app.broker_url:
            return self.app.transport
        with self._lock:
            if self._own_transport is None:
                from celeriac.config.options import transport_options
                from celeriac.transport import resolve_transport

                self._own_transport = resolve_transport(
                    self.url, transport_options(self.app.conf, self.url))
            return self._own_transport

    def channel(self) -> Channel:
        """A new celeriac channel on this broker (the caller closes it)."""
        return self.transport.channel()

    @property
    def default_channel(self) -> Channel:
        """The connection's own channel, opened on first use, closed on ``release``."""
        with self._lock:
            if self._channel is None:
                self._channel = self.transport.channel()
            return self._channel

    @property
    def connected(self) -> bool:
        return self._channel is not None

    def connect(self) -> BrokerConnection:
        """Make one round trip to the broker now; ``OperationalError`` if it cannot."""
        self.default_channel.size(str(self.app.conf.task_default_queue))
        return self

    def ensure_connection(self, errback: ErrBack | None = None, max_retries: int | None = None,
                          interval_start: float = 2, interval_step: float = 2,
                          interval_max: float = 30, callback: Callable[[], Any] | None = None,
                          reraise_as_library_errors: bool = True,
                          timeout: float | None = None) -> BrokerConnection:
        """Connect, retrying as kombu's ``ensure_connection`` does.

        ``max_retries`` retries after the first attempt (None: forever), waiting
        ``interval_start`` seconds, then ``interval_step`` more each time, at most
        ``interval_max``; ``timeout`` bounds the whole wait. ``errback(exc, interval)`` is
        called before each wait, ``callback()`` after it.

        Raises:
            OperationalError: the broker stayed unreachable.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval, retries = float(interval_start), 0
        while True:
            try:
                return self.connect()
            except OperationalError as exc:
                self._forget_channel()
                out_of_time = deadline is not None and time.monotonic() + interval > deadline
                if (max_retries is not None and retries >= max_retries) or out_of_time:
                    raise
                if errback is not None:
                    errback(exc, interval)
                time.sleep(interval)
                if callback is not None:
                    callback()
                retries += 1
                interval = min(interval + interval_step, interval_max)

    def Producer(self, serializer: str | None = None) -> RawProducer:
        return RawProducer(self, serializer=serializer)

    def _forget_channel(self) -> None:
        with self._lock:
            channel, self._channel = self._channel, None
        if channel is not None:
            with suppress(Exception):  # a broken channel may fail to close; forget it
                channel.close()

    def release(self) -> None:
        """Close this connection's channel (and its own transport, for another URL)."""
        self._forget_channel()
        with self._lock:
            transport, self._own_transport = self._own_transport, None
        if transport is not None:
            transport.close()

    close = release


class RawProducer:
    """``conn.Producer()``: publishes any payload (not only tasks) to a queue by name.

    The message travels as kombu lays messages out on each broker, so a kombu consumer (and
    a celeriac ``ConsumerStep``) reads ``body`` back as the same value.
    """

    def __init__(self, connection: BrokerConnection, serializer: str | None = None) -> None:
        self.connection = connection
        self.serializer = serializer or str(connection.app.conf.task_serializer or "json")

    def __enter__(self) -> RawProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def publish(self, body: Any, routing_key: str | None = None,
                exchange: str | Any = DEFAULT_EXCHANGE, serializer: str | None = None,
                headers: Mapping[str, Any] | None = None, content_type: str | None = None,
                content_encoding: str | None = None, declare: Sequence[Any] = (),
                **properties: Any) -> None:
        """Publish ``body`` to the queue ``routing_key`` (or through ``exchange``).

        ``body`` is serialized with ``serializer`` unless ``content_type`` is given, in
        which case it must already be ``bytes`` or ``str``. ``declare``: queues (names or
        objects with ``.name``) to declare first. Other keywords become message properties
        (``priority``, ``correlation_id``, ``reply_to``, ...).
        """
        if content_type is None:
            content_type, content_encoding, data = dumps(body, serializer or self.serializer)
        else:
            data = body.encode(content_encoding or "utf-8") if isinstance(body, str) else body
        exchange_name = str(getattr(exchange, "name", exchange) or "")
        key = str(routing_key or "")
        channel = self.connection.default_channel
        names = [str(getattr(queue, "name", queue)) for queue in declare]
        if not exchange_name and key:
            names.append(key)
        if names:
            channel.declare(names)
        message = TaskMessage(headers=dict(headers or {}),
                              properties={"correlation_id": new_id(), **properties},
                              body=bytes(data), content_type=content_type,
                              content_encoding=content_encoding or "utf-8")
        channel.publish([Outbound(message, routing_key=key, exchange=exchange_name)])


class ConnectionPool:
    """``app.pool``: hands out connections to the app's broker (they share its transport,
    which multiplexes; there is no fixed number of kombu-style connections to run out of)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.limit = app.conf.broker_pool_limit

    def acquire(self, block: bool = True, timeout: float | None = None) -> BrokerConnection:
        return BrokerConnection(self.app)

    def release(self, connection: BrokerConnection) -> None:
        connection.release()

    def force_close_all(self) -> None:
        return None


@contextmanager
def _given_or_fresh(app: Celery, given: T | None,
                    make: Callable[[BrokerConnection], T]) -> Iterator[T]:
    """Yield ``given``, or ``make(connection)`` on a connection released after the block."""
    if given is not None:
        yield given
        return
    with BrokerConnection(app) as connection:
        yield make(connection)


def connection_or_acquire(app: Celery, connection: BrokerConnection | None = None
                          ) -> AbstractContextManager[BrokerConnection]:
    return _given_or_fresh(app, connection, lambda fresh: fresh)


def producer_or_acquire(app: Celery, producer: RawProducer | None = None
                        ) -> AbstractContextManager[RawProducer]:
    return _given_or_fresh(app, producer, lambda fresh: fresh.Producer())


__all__ = ["BrokerConnection", "ConnectionPool", "RawProducer", "connection_or_acquire",
           "producer_or_acquire"]
