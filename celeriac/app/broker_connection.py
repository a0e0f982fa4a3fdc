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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.exceptions import OperationalError

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.raw_producer import RawProducer
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


def retrying(action: Callable[[], T], max_retries: int | None = None,
             interval_start: float = 2, interval_step: float = 2, interval_max: float = 30,
             errback: ErrBack | None = None, callback: Callable[[], Any] | None = None,
             timeout: float | None = None) -> T:
    """``action()``, retried on ``OperationalError`` as kombu's ``ensure`` retries: at most
    ``max_retries`` times (None: forever), waiting ``interval_start`` seconds, then
    ``interval_step`` more each time up to ``interval_max``, within ``timeout`` overall.
    ``errback(exc, interval)`` runs before each wait, ``callback()`` after it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval, retries = float(interval_start), 0
    while True:
        try:
            return action()
        except OperationalError as exc:
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
        self._lock = threading.RLock()  # default_channel takes it, then transport again

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
        """Connect, retrying as kombu's ``ensure_connection`` does (see ``retrying``).

        Raises:
            OperationalError: the broker stayed unreachable.
        """
        def errback_and_reset(exc: Exception, interval: float) -> None:
            self._forget_channel()
            if errback is not None:
                errback(exc, interval)

        try:
            return retrying(self.connect, max_retries, interval_start, interval_step,
                            interval_max, errback=errback_and_reset, callback=callback,
                            timeout=timeout)
        except OperationalError:
            self._forget_channel()
            raise

    def Producer(self, serializer: str | None = None) -> RawProducer:
        from celeriac.app.raw_producer import RawProducer

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


class ConnectionPool:
    """``app.pool``: hands out connections to the app's broker (they share its transport,
    which multiplexes; there is no fixed number of kombu-style connections to run out of)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        #: kombu's pool size; none here (``broker_pool_limit`` is refused as unsupported).
        self.limit: int | None = None

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


__all__ = ["BrokerConnection", "ConnectionPool", "connection_or_acquire", "producer_or_acquire",
           "retrying"]
