"""The frozen option objects components take in their constructors, built by ``options``.

They live in ``config`` (below transports and stores) so that a transport or a store needs
nothing from the app to be built, and ``config`` needs nothing from them to build its options.
"""

from __future__ import annotations

import math
import random
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from celeriac.config.transport_keys import (
    AmqpTransportOptions,
    KeyValueStoreOptions,
    RedisStoreOptions,
    RedisTransportOptions,
    RpcStoreOptions,
    SqliteStoreOptions,
    SqliteTransportOptions,
)
from celeriac.exceptions import OperationalError
from celeriac.routing.entities import Queue


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Celery's remote-control and event queue settings, for brokers whose broadcasts go
    through real queues (RabbitMQ declares them with these names and arguments; Redis, SQLite
    and memory have no such queues, and kombu ignores these settings on Redis too).

    Times are seconds (None: no such argument), as in Celery's settings of the same names.
    """

    control_queue_ttl: float | None = 300.0
    control_queue_expires: float | None = 10.0
    event_queue_ttl: float | None = 5.0
    event_queue_expires: float | None = 60.0
    event_queue_prefix: str = "celeryev"
    event_queue_exclusive: bool = True
    event_queue_durable: bool = False


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Settings a transport needs, frozen from ``broker_*`` settings.

    ``heartbeat_interval`` is how often the worker renews its leases; a channel that misses
    ``lease_timeout`` seconds of heartbeats is considered dead and its messages go back.
    ``task_queues`` are the user's ``Queue`` entities (exchanges, bindings, arguments).
    ``redis``, ``amqp`` and ``sqlite`` are the typed ``broker_transport_options`` of each
    broker (``transport_keys.py``); only the one the broker URL names is built from them.
    ``broadcast`` holds the pidbox and event queue settings (``BroadcastOptions``).
    """

    heartbeat_interval: float = 1.0
    lease_timeout: float = 6.0
    connect_timeout: float = 4.0
    connection_retry: bool = True
    connection_max_retries: int | None = 100
    task_queues: tuple[Queue, ...] = ()
    redis: RedisTransportOptions = field(default_factory=RedisTransportOptions)
    amqp: AmqpTransportOptions = field(default_factory=AmqpTransportOptions)
    sqlite: SqliteTransportOptions = field(default_factory=SqliteTransportOptions)
    broadcast: BroadcastOptions = field(default_factory=BroadcastOptions)


@dataclass(frozen=True, slots=True)
class DatabaseStoreOptions:
    """Celery's ``database_*`` settings, read by the SQL result store (``backends/sql``).

    ``table_names``/``table_schemas`` map ``'task'``, ``'group'`` (and celeriac's ``'chord'``)
    to a table name/schema; ``engine_callback`` is a callable or its dotted path.
    """

    url: str | None = None
    engine_options: dict[str, object] = field(
        default_factory=lambda: {"pool_pre_ping": True, "pool_recycle": 3600})
    engine_callback: object = None
    short_lived_sessions: bool = False
    table_schemas: dict[str, str] = field(default_factory=dict)
    table_names: dict[str, str] = field(default_factory=dict)
    create_tables_at_setup: bool = True


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Settings a result store needs, frozen from ``result_*`` settings.

    ``expires`` is the TTL of stored records in seconds (None: keep forever). ``serializer``,
    ``compression`` and ``accept`` are ``result_serializer``, ``result_compression`` and
    ``result_accept_content`` (else ``accept_content``): see ``record_codec``.
    ``persistent`` is ``result_persistent`` and ``oid`` the app's id (``rpc://`` names its
    reply queue after it). ``redis``, ``rpc``, ``sqlite`` and ``keyvalue`` (memcached, file)
    are the typed ``result_backend_transport_options`` of each store; ``database`` the
    ``database_*`` settings of the SQL store. ``cache_backend_options`` are the memcached
    store's client arguments (Celery's setting).
    """

    expires: float | None = 86400.0
    extended: bool = False
    serializer: str = "json"
    compression: str | None = None
    accept: tuple[str, ...] = ("json",)
    persistent: bool = False
    oid: str | None = None
    #: ``cache_backend``: the Django cache alias of ``django-cache`` (None: ``'default'``), or
    #: the store of ``result_backend='cache'`` (``memcached://...``, ``memory://``).
    cache_backend: str | None = None
    redis: RedisStoreOptions = field(default_factory=RedisStoreOptions)
    rpc: RpcStoreOptions = field(default_factory=RpcStoreOptions)
    sqlite: SqliteStoreOptions = field(default_factory=SqliteStoreOptions)
    database: DatabaseStoreOptions = field(default_factory=DatabaseStoreOptions)
    keyvalue: KeyValueStoreOptions = field(default_factory=KeyValueStoreOptions)
    cache_backend_options: dict[str, Any] = field(default_factory=dict)


#: Errors that mean "the store cannot be reached (or is busy) now", not "this record is bad":
#: worth another attempt, as Celery's ``exception_safe_to_retry`` decides for its stores. Our
#: stores raise ``OperationalError`` for an unreachable server (the Redis store wraps
#: redis-py's connection errors); a locked SQLite file raises ``sqlite3.OperationalError``.
RECOVERABLE_STORE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, OSError, sqlite3.OperationalError)


@dataclass(frozen=True, slots=True)
class StoreRetryPolicy:
    """When a failed store is tried again: Celery's ``result_backend_always_retry``,
    ``result_backend_max_retries`` and ``result_backend_{base,max}_sleep_between_retries_ms``,
    with their defaults (off, no limit, 10 ms, 10 s)."""

    always_retry: bool = False
    max_retries: float = math.inf
    base_sleep_ms: float = 10.0
    max_sleep_ms: float = 10000.0

    def may_retry(self, exc: BaseException, retries: int) -> bool:
        """Whether a store that raised ``exc`` after ``retries`` retries is tried again."""
        return (self.always_retry and isinstance(exc, RECOVERABLE_STORE_ERRORS)
                and retries < self.max_retries)

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1-based): Celery's full-jitter exponential
        backoff, ``uniform(0, min(max_sleep, base_sleep * 2**retry))``."""
        ceiling = min(self.max_sleep_ms, self.base_sleep_ms * 2.0 ** min(retry, 64))
        return random.uniform(0.0, max(ceiling, 0.0)) / 1000.0
