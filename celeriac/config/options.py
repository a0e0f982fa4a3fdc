"""Freezing ``Settings`` into the typed option objects components take in their constructors.

No component reads ``app.conf`` itself: this module is the one translation point, so every
component can be built in a test without an app.
"""

from __future__ import annotations

from typing import Any

from celeriac.config.frozen import (
    BackendOptions,
    BroadcastOptions,
    DatabaseStoreOptions,
    StoreRetryPolicy,
    TransportOptions,
)
from celeriac.config.keyed import KeyedOptions
from celeriac.config.transport_keys import (
    AmqpTransportOptions,
    KeyValueStoreOptions,
    NoKeys,
    RedisStoreOptions,
    RedisTransportOptions,
    RpcStoreOptions,
    SqliteStoreOptions,
    SqliteTransportOptions,
)
from celeriac.config.urls import scheme_of


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)


#: Settings mapped into a transport's typed options, under these keys (for the transports
#: that have them); explicit ``broker_transport_options`` win over them.
_EXTRA_FROM_SETTINGS = {
    "broker_use_ssl": "use_ssl",
    "broker_heartbeat": "heartbeat",
    "task_queue_max_priority": "queue_max_priority",
    "task_default_queue_type": "default_queue_type",
    "task_publish_retry_policy": "publish_retry_policy",
}

#: Broker scheme -> the ``TransportOptions`` field its transport reads.
_BROKER_KEYS: dict[str, str] = {
    **dict.fromkeys(("redis", "rediss", "redis+socket", "sentinel"), "redis"),
    **dict.fromkeys(("amqp", "amqps", "pyamqp"), "amqp"),
    **dict.fromkeys(("sqlite", "sqla+sqlite"), "sqlite"),
    "memory": "",
}
_TRANSPORT_KEYS: dict[str, type[KeyedOptions]] = {
    "redis": RedisTransportOptions, "amqp": AmqpTransportOptions,
    "sqlite": SqliteTransportOptions, "": NoKeys,
}


def _mapped(conf: Any, table: dict[str, str]) -> dict[str, Any]:
    return {key: conf.get(setting) for setting, key in table.items()
            if conf.get(setting) is not None}


def transport_options(conf: Any, broker_url: str | None = None) -> TransportOptions:
    """The broker's options; ``broker_transport_options`` keys its transport (the scheme of
    ``broker_url``, else ``conf.broker_url``) does not read are logged (``keyed.py``)."""
    typed: dict[str, Any] = {}
    kind = _BROKER_KEYS.get(scheme_of(broker_url or conf.get("broker_url") or "sqlite://"))
    if kind is not None:
        typed[kind] = _TRANSPORT_KEYS[kind].build(
            conf.get("broker_transport_options"), setting="broker_transport_options",
            defaults=_mapped(conf, _EXTRA_FROM_SETTINGS))
    typed.pop("", None)
    if conf.get("task_queues"):  # the user's exchanges and bindings (routing/queues.py)
        from celeriac.routing.queues import queue_set

        typed["task_queues"] = tuple(queue_set(conf).values())
    return TransportOptions(
        heartbeat_interval=float(conf.celeriac_lease_heartbeat),
        lease_timeout=float(conf.celeriac_lease_timeout),
        connect_timeout=float(conf.broker_connection_timeout),
        connection_retry=bool(conf.broker_connection_retry),
        connection_max_retries=conf.broker_connection_max_retries,
        broadcast=broadcast_options(conf),
        **typed,
    )


def broadcast_options(conf: Any) -> BroadcastOptions:
    """The pidbox and event queue settings (``control_*``, ``event_queue_*``)."""
    return BroadcastOptions(
        control_queue_ttl=_seconds(conf.get("control_queue_ttl")),
        control_queue_expires=_seconds(conf.get("control_queue_expires")),
        event_queue_ttl=_seconds(conf.get("event_queue_ttl")),
        event_queue_expires=_seconds(conf.get("event_queue_expires")),
        event_queue_prefix=str(conf.get("event_queue_prefix") or "celeryev"),
        event_queue_exclusive=bool(conf.get("event_queue_exclusive")),
        event_queue_durable=bool(conf.get("event_queue_durable")),
    )


#: Settings of the Redis result store's client, under the keys the client reads from
#: ``result_backend_transport_options`` (which win over them), as Celery's Redis backend.
_BACKEND_EXTRA_FROM_SETTINGS = {
    "redis_max_connections": "max_connections",
    "redis_socket_timeout": "socket_timeout",
    "redis_socket_connect_timeout": "socket_connect_timeout",
    "redis_backend_use_ssl": "use_ssl",
}

#: Result store scheme -> the ``BackendOptions`` field its store reads.
_BACKEND_KEYS: dict[str, str] = {
    **dict.fromkeys(("redis", "rediss", "redis+socket", "sentinel"), "redis"),
    "sqlite": "sqlite",
    "rpc": "rpc",
    **dict.fromkeys(("memory", "cache+memory", "disabled", "django-db", "django-cache", ""), ""),
    **dict.fromkeys(("db", "database"), ""),
    **dict.fromkeys(("cache", "cache+memcached", "cache+memcache", "cache+pymemcache",
                     "cache+pylibmc", "file"), "keyvalue"),
}
_STORE_KEYS: dict[str, type[KeyedOptions]] = {
    "redis": RedisStoreOptions, "rpc": RpcStoreOptions, "sqlite": SqliteStoreOptions,
    "keyvalue": KeyValueStoreOptions,
    "": NoKeys,
}


def backend_options(conf: Any, oid: str | None = None,
                    backend_url: str | None = None) -> BackendOptions:
    """``oid`` names the client's reply queue for ``rpc://`` (``app.oid``);
    ``result_backend_transport_options`` keys the store of ``backend_url`` (else
    ``conf.result_backend``) does not read are logged."""
    typed: dict[str, Any] = {}
    scheme = scheme_of(backend_url or conf.get("result_backend") or "")
    # Every db+<SQLAlchemy URL> is the SQL store, which reads the database_* settings only.
    kind = _BACKEND_KEYS.get("db" if scheme.startswith("db+") else scheme)
    if kind is not None:
        typed[kind] = _STORE_KEYS[kind].build(
            conf.get("result_backend_transport_options"),
            setting="result_backend_transport_options",
            defaults=_mapped(conf, _BACKEND_EXTRA_FROM_SETTINGS))
    typed.pop("", None)
    expires = _seconds(conf.get("result_expires"))
    accept = conf.get("result_accept_content")
    if accept is None:
        accept = conf.get("accept_content") or ("json",)
    return BackendOptions(
        expires=expires or None,
        extended=bool(conf.get("result_extended")),
        serializer=str(conf.get("result_serializer") or "json"),
        compression=conf.get("result_compression") or None,
        accept=tuple(accept),
        persistent=bool(conf.get("result_persistent")),
        oid=oid,
        cache_backend=conf.get("cache_backend") or None,
        cache_backend_options=dict(conf.get("cache_backend_options") or {}),
        database=database_options(conf),
        **typed,
    )


def database_options(conf: Any) -> DatabaseStoreOptions:
    """Celery's ``database_*`` settings, for the SQL result store."""
    return DatabaseStoreOptions(
        url=conf.get("database_url") or None,
        engine_options=dict(conf.get("database_engine_options") or {}),
        engine_callback=conf.get("database_engine_callback"),
        short_lived_sessions=bool(conf.get("database_short_lived_sessions")),
        table_schemas=dict(conf.get("database_table_schemas") or {}),
        table_names=dict(conf.get("database_table_names") or {}),
        create_tables_at_setup=bool(conf.get("database_create_tables_at_setup")),
    )


def store_retry_policy(conf: Any) -> StoreRetryPolicy:
    """How the worker retries storing results (Celery's ``result_backend_*retr*`` settings)."""
    max_retries = conf.get("result_backend_max_retries")
    return StoreRetryPolicy(
        always_retry=bool(conf.get("result_backend_always_retry")),
        max_retries=float("inf") if max_retries is None else float(max_retries),
        base_sleep_ms=float(conf.get("result_backend_base_sleep_between_retries_ms")),
        max_sleep_ms=float(conf.get("result_backend_max_sleep_between_retries_ms")),
    )
