"""The keys each transport and result store reads from its ``*_transport_options``, typed.

One frozen dataclass per reader: its fields are the keys it acts on, with kombu's/Celery's
names and defaults; ``IGNORED`` lists keys they accept that celeriac does not act on, with the
reason that is logged. ``config.options`` builds them (see ``keyed.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from celeriac.config.keyed import KeyedOptions, as_mapping, option, optional
from celeriac.exceptions import ImproperlyConfigured

DEFAULT_SEP = "\x06\x16"
DEFAULT_PRIORITY_STEPS: tuple[int, ...] = (0, 3, 6, 9)

_RECONNECT = ("celeriac reconnects per broker_connection_retry and "
              "broker_connection_max_retries")
#: kombu's ``Connection`` failover keys, read from every transport's options.
_FAILOVER = {key: _RECONNECT for key in
             ("max_retries", "interval_start", "interval_step", "interval_max",
              "connect_retries_timeout")}
_KEEPALIVE = {
    "socket_keepalive": "TCP keepalive is always on",
    "socket_keepalive_options": "TCP keepalive is always on, with the system's timings",
    "retry_on_timeout": "redis-py retries a timed-out call with celeriac's own backoff",
}


def _priority_steps(value: Any) -> tuple[int, ...]:
    steps = tuple(sorted(int(step) for step in value))
    if not steps or steps[0] != 0:
        raise ImproperlyConfigured(
            f"broker_transport_options['priority_steps'] must start at 0, got {list(steps)}"
        )
    return steps


def _or_zero(value: Any) -> float:
    return float(value or 0.0)


@dataclass(frozen=True, slots=True)
class RedisClientOptions(KeyedOptions):
    """How a redis-py client connects: shared by the broker, the result store and beat's store.

    ``use_ssl`` is ``broker_use_ssl`` / ``redis_backend_use_ssl`` or the ``ssl`` key: a dict
    of ``ssl_*`` arguments for ``rediss://`` (True: the URL's own).
    """

    use_ssl: Any = None
    master_name: str | None = option(None, optional(str))
    sentinel_kwargs: Mapping[str, Any] = option({}, as_mapping)
    health_check_interval: float = option(25.0, float)
    max_connections: int = option(64, int)
    socket_timeout: float | None = option(None, optional(float))
    global_keyprefix: str = option("", lambda value: str(value or ""))

    WHAT: ClassVar[str] = "the Redis client"
    ALIASES: ClassVar[Mapping[str, str]] = {"ssl": "use_ssl"}
    IGNORED: ClassVar[Mapping[str, str]] = _KEEPALIVE


@dataclass(frozen=True, slots=True)
class RedisTransportOptions(RedisClientOptions):
    """kombu's Redis transport options that celeriac's Redis broker acts on."""

    visibility_timeout: float = option(3600.0, float)
    queue_order_strategy: str = option("round_robin", str)
    fetch_poll_interval: float = option(0.1, lambda value: max(float(value), 0.01))
    delayed_batch: int = option(1000, int)
    delay_on_publish: bool = option(False, bool)
    priority_steps: tuple[int, ...] = option(DEFAULT_PRIORITY_STEPS, _priority_steps)
    sep: str = option(DEFAULT_SEP, str)
    unacked_key: str = option("unacked", str)
    unacked_index_key: str = option("unacked_index", str)
    unacked_mutex_key: str = option("unacked_mutex", str)

    WHAT: ClassVar[str] = "the Redis transport"
    IGNORED: ClassVar[Mapping[str, str]] = {
        **_FAILOVER, **_KEEPALIVE,
        "fanout_prefix": "fanout channels always carry kombu's default prefix",
        "fanout_patterns": "fanout messages are always published per routing key pattern",
        "socket_connect_timeout": "the broker's connect timeout is broker_connection_timeout",
        "unacked_mutex_expire": "leases are per consumer (celeriac_lease_timeout); no mutex",
        "unacked_restore_limit": "a dead consumer's leases are restored all at once",
        "ack_emulation": "acknowledgements are always emulated with leases",
        "polling_interval": "fetches block on the server; fetch_poll_interval is the fallback",
    }


@dataclass(frozen=True, slots=True)
class RedisStoreOptions(RedisClientOptions):
    """Celery's Redis result backend options (``result_backend_transport_options``)."""

    socket_connect_timeout: float = option(4.0, float)

    WHAT: ClassVar[str] = "the Redis result store"
    IGNORED: ClassVar[Mapping[str, str]] = {
        **_KEEPALIVE,
        "retry_policy": "storing retries per result_backend_always_retry and "
                        "result_backend_max_retries",
    }


@dataclass(frozen=True, slots=True)
class AmqpConnectionOptions(KeyedOptions):
    """How an AMQP connection is opened (``use_ssl``: True, ``ssl`` arguments or a context;
    ``heartbeat``: seconds, 0 disables)."""

    use_ssl: Any = None
    heartbeat: float = option(120.0, _or_zero)
    client_properties: Mapping[str, Any] = option({}, as_mapping)

    WHAT: ClassVar[str] = "the AMQP connection"


@dataclass(frozen=True, slots=True)
class AmqpTransportOptions(AmqpConnectionOptions):
    """py-amqp/kombu transport options that celeriac's RabbitMQ broker acts on."""

    publish_retry_policy: Mapping[str, Any] | None = None
    confirm_timeout: float = option(30.0, float)
    prefetch_count: int | None = option(None, lambda value: int(value) if value else None)
    queue_max_priority: int | None = option(None, optional(int))
    default_queue_type: str = option("classic", lambda value: str(value or "classic"))
    queue_arguments: Mapping[str, Mapping[str, Any]] = option(
        {}, lambda value: {str(name): dict(args) for name, args in (value or {}).items()})

    WHAT: ClassVar[str] = "the AMQP transport"
    IGNORED: ClassVar[Mapping[str, str]] = {
        **_FAILOVER,
        "confirm_publish": "celeriac always publishes with publisher confirms",
    }


@dataclass(frozen=True, slots=True)
class RpcStoreOptions(AmqpConnectionOptions):
    """The ``rpc://`` result store: its reply link and how long an unknown id is waited for."""

    rpc_unknown_timeout: float = option(10.0, float)
    publish_retry_policy: Mapping[str, Any] | None = None

    WHAT: ClassVar[str] = "the rpc result store"


@dataclass(frozen=True, slots=True)
class SqliteTransportOptions(KeyedOptions):
    """The SQLite broker: ``busy_timeout`` None means ``max(broker_connection_timeout, 5)``."""

    busy_timeout: float | None = option(None, optional(float))
    synchronous: str = option("NORMAL", str)
    polling_interval: float = option(0.05, float)
    fanout_ttl: float = option(60.0, float)

    WHAT: ClassVar[str] = "the SQLite transport"
    IGNORED: ClassVar[Mapping[str, str]] = _FAILOVER


@dataclass(frozen=True, slots=True)
class SqliteStoreOptions(KeyedOptions):
    """The SQLite result store's connection."""

    busy_timeout: float = option(5.0, float)
    synchronous: str = option("NORMAL", str)

    WHAT: ClassVar[str] = "the SQLite result store"


@dataclass(frozen=True, slots=True)
class KeyValueStoreOptions(KeyedOptions):
    """The memcached and file result stores: Celery's key-value backends read only
    ``global_keyprefix`` (put in front of every key, with ``_`` added unless it ends in
    ``:_-.``, as on Redis)."""

    global_keyprefix: str = option("", lambda value: str(value or ""))

    WHAT: ClassVar[str] = "the memcached or file result store"


@dataclass(frozen=True, slots=True)
class NoKeys(KeyedOptions):
    """A transport or store that reads no key (memory, disabled): every key is reported."""

    WHAT: ClassVar[str] = "this transport or store"
    IGNORED: ClassVar[Mapping[str, str]] = _FAILOVER


__all__ = [
    "DEFAULT_PRIORITY_STEPS",
    "DEFAULT_SEP",
    "AmqpConnectionOptions",
    "AmqpTransportOptions",
    "KeyValueStoreOptions",
    "NoKeys",
    "RedisClientOptions",
    "RedisStoreOptions",
    "RedisTransportOptions",
    "RpcStoreOptions",
    "SqliteStoreOptions",
    "SqliteTransportOptions",
]
