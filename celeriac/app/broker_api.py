"""Celery's broker-facing app API: ``connection()``, ``pool``, ``producer_or_acquire``, ``amqp``.

A mixin of ``Celery``. The objects are celeriac-shaped stand-ins for kombu's (see
``app/broker_connection.py``): enough for what user code does with them (check the broker,
publish raw messages, hand a connection back to the app), on celeriac's transports.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from celeriac.app.broker_connection import (
    BrokerConnection,
    ConnectionPool,
    connection_or_acquire,
    producer_or_acquire,
)
from celeriac.app.raw_producer import RawProducer

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.routing import TaskRouter
    from celeriac.routing.queues import QueueSet

#: ``connection()`` arguments celeriac takes from the URL and settings only.
_URL_PARTS = ("userid", "password", "virtual_host", "port", "ssl", "connect_timeout",
              "transport", "transport_options", "heartbeat", "login_method",
              "failover_strategy")


class AMQP:
    """``app.amqp``: the app's queues and router, and connection/producer factories."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    @property
    def queues(self) -> QueueSet:
        from celeriac.routing.queues import queue_set

        return queue_set(self.app.conf)

    @property
    def router(self) -> TaskRouter:
        return self.app.router

    def Connection(self, url: str | None = None, **kwargs: Any) -> BrokerConnection:
        return self.app.connection(url, **kwargs)

    @property
    def producer_pool(self) -> ProducerPool:
        return ProducerPool(self.app)


class ProducerPool:
    """``app.producer_pool``/``app.amqp.producer_pool``: ``acquire()`` gives a producer."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def acquire(self, block: bool = True, timeout: float | None = None) -> RawProducer:
        return BrokerConnection(self.app).Producer()

    def release(self, producer: RawProducer) -> None:
        producer.connection.release()


class AppBrokerAccess:
    """Mixin of ``Celery``: connections to the broker as Celery's app hands them out."""

    _amqp: AMQP | None = None
    _pool: ConnectionPool | None = None

    def connection_for_write(self, url: str | None = None, **kwargs: Any) -> BrokerConnection:
        """A connection to the broker (``broker_url``; celeriac has one URL for both ways)."""
        return self.connection(url, **kwargs)

    def connection_for_read(self, url: str | None = None, **kwargs: Any) -> BrokerConnection:
        return self.connection(url, **kwargs)

    def connection(self, hostname: str | None = None, **kwargs: Any) -> BrokerConnection:
        """A lazy connection to ``hostname`` (a URL) or the app's broker.

        Celery's other arguments (``userid=``, ``ssl=``, ...) are refused with ``TypeError``
        when given: put them in the URL or the ``broker_*`` settings.
        """
        given = sorted(name for name, value in kwargs.items() if value is not None)
        if given:
            known = [name for name in given if name in _URL_PARTS]
            raise TypeError(f"celeriac's app.connection() takes the broker URL only; "
                            f"{', '.join(known or given)} must be part of the URL or the "
                            "broker_* settings")
        return BrokerConnection(self._app, hostname)

    broker_connection = connection

    def connection_or_acquire(self, connection: BrokerConnection | None = None,
                              pool: bool = True, *_: Any, **__: Any
                              ) -> AbstractContextManager[BrokerConnection]:
        """``with app.connection_or_acquire(conn) as conn:``: ``conn``, or a new one."""
        return connection_or_acquire(self._app, connection)

    default_connection = connection_or_acquire

    def producer_or_acquire(self, producer: RawProducer | None = None
                            ) -> AbstractContextManager[RawProducer]:
        """``with app.producer_or_acquire() as producer: producer.publish(...)``."""
        return producer_or_acquire(self._app, producer)

    default_producer = producer_or_acquire

    @property
    def pool(self) -> ConnectionPool:
        """Broker connections (``acquire()``/``release()``); not the worker's task pool."""
        if self._pool is None:
            self._pool = ConnectionPool(self._app)
        return self._pool

    @property
    def producer_pool(self) -> ProducerPool:
        return ProducerPool(self._app)

    @property
    def amqp(self) -> AMQP:
        if self._amqp is None:
            self._amqp = AMQP(self._app)
        return self._amqp

    @property
    def _app(self) -> Celery:
        return self  # type: ignore[return-value]  # the mixin is only used by Celery


__all__ = ["AMQP", "AppBrokerAccess", "ProducerPool"]
