"""Freezing ``Settings`` into the typed option objects components take in their constructors.

No component reads ``app.conf`` itself: this module is the one translation point, so every
component can be built in a test without an app.
"""

from __future__ import annotations

from typing import Any

from celeriac.config.frozen import BackendOptions, StoreRetryPolicy, TransportOptions


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)


#: Settings a transport reads from ``TransportOptions.extra``, under these keys; explicit
#: ``broker_transport_options`` win over them.
_EXTRA_FROM_SETTINGS = {
    "broker_use_ssl": "use_ssl",
    "broker_heartbeat": "heartbeat",
    "task_queue_max_priority": "queue_max_priority",
    "task_default_queue_type": "default_queue_type",
    "task_publish_retry_policy": "publish_retry_policy",
}


def transport_options(conf: Any) -> TransportOptions:
    extra = {key: conf.get(setting) for setting, key in _EXTRA_FROM_SETTINGS.items()
             if conf.get(setting) is not None}
    extra.update(conf.get("broker_transport_options") or {})
    if conf.get("task_queues"):  # the user's exchanges and bindings (routing/queues.py)
        from celeriac.routing.queues import queue_set

        extra.setdefault("task_queues", tuple(queue_set(conf).values()))
    return TransportOptions(
        heartbeat_interval=float(conf.celeriac_lease_heartbeat),
        lease_timeout=float(conf.celeriac_lease_timeout),
        connect_timeout=float(conf.broker_connection_timeout),
        connection_retry=bool(conf.broker_connection_retry),
        connection_max_retries=conf.broker_connection_max_retries,
        extra=extra,
    )


#: Settings of the Redis result store's client, under the keys the client reads from
#: ``result_backend_transport_options`` (which win over them), as Celery's Redis backend.
_BACKEND_EXTRA_FROM_SETTINGS = {
    "redis_max_connections": "max_connections",
    "redis_socket_timeout": "socket_timeout",
    "redis_socket_connect_timeout": "socket_connect_timeout",
}


def backend_options(conf: Any, oid: str | None = None) -> BackendOptions:
    """``oid`` names the client's reply queue for ``rpc://`` (``app.oid``)."""
    expires = _seconds(conf.get("result_expires"))
    extra = {"persistent": bool(conf.get("result_persistent")), **(
        conf.get("result_backend_transport_options") or {})}
    for setting, key in _BACKEND_EXTRA_FROM_SETTINGS.items():
        if conf.get(setting) is not None:
            extra.setdefault(key, conf.get(setting))
    if conf.get("redis_backend_use_ssl"):
        extra.setdefault("redis_backend_use_ssl", conf.get("redis_backend_use_ssl"))
    if oid is not None:
        extra["oid"] = oid
    accept = conf.get("result_accept_content")
    if accept is None:
        accept = conf.get("accept_content") or ("json",)
    return BackendOptions(
        expires=expires or None,
        extended=bool(conf.get("result_extended")),
        serializer=str(conf.get("result_serializer") or "json"),
        compression=conf.get("result_compression") or None,
        accept=tuple(accept),
        extra=extra,
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
