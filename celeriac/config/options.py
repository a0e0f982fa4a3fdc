"""Freezing ``Settings`` into the typed option objects components take in their constructors.

No component reads ``app.conf`` itself: this module is the one translation point, so every
component can be built in a test without an app.
"""

from __future__ import annotations

from typing import Any

from celeriac.backends.base import BackendOptions
from celeriac.transport.base import TransportOptions


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)


def transport_options(conf: Any) -> TransportOptions:
    return TransportOptions(
        heartbeat_interval=float(conf.celeriac_lease_heartbeat),
        lease_timeout=float(conf.celeriac_lease_timeout),
        connect_timeout=float(conf.broker_connection_timeout),
        connection_retry=bool(conf.broker_connection_retry),
        connection_max_retries=conf.broker_connection_max_retries,
        extra=dict(conf.get("broker_transport_options") or {}),
    )


def backend_options(conf: Any) -> BackendOptions:
    expires = _seconds(conf.get("result_expires"))
    return BackendOptions(
        expires=expires or None,
        extended=bool(conf.get("result_extended")),
        serializer=str(conf.get("result_serializer") or "json"),
        extra=dict(conf.get("result_backend_transport_options") or {}),
    )
