"""Transport resolution: a broker URL's scheme names the transport class.

Heavy clients live in their own subpackage and are imported only when their scheme is used, so
``celeriac`` installs with nothing but click and still runs on the embedded SQLite default.
"""

from __future__ import annotations

from typing import Final, cast

from celeriac.config.frozen import TransportOptions
from celeriac.config.urls import scheme_of
from celeriac.transport.base import Transport
from celeriac.utils.imports import import_alias

TRANSPORT_ALIASES: Final[dict[str, str]] = {
    "memory": "celeriac.transport.memory:MemoryTransport",
    "sqlite": "celeriac.transport.sqlite:SqliteTransport",
    "sqla+sqlite": "celeriac.transport.sqlite:SqliteTransport",
    "redis": "celeriac.transport.redis:RedisTransport",
    "rediss": "celeriac.transport.redis:RedisTransport",
    "redis+socket": "celeriac.transport.redis:RedisTransport",
    "sentinel": "celeriac.transport.redis:RedisTransport",
    "amqp": "celeriac.transport.amqp:AmqpTransport",
    "amqps": "celeriac.transport.amqp:AmqpTransport",
    "pyamqp": "celeriac.transport.amqp:AmqpTransport",
}


def resolve_transport(url: str, options: TransportOptions | None = None) -> Transport:
    """Build the transport that ``url`` names.

    Raises:
        ImproperlyConfigured: the scheme is unknown (with a "did you mean"), or its extra is
            not installed (with the pip command that installs it).
    """
    cls = cast(type[Transport], import_alias(scheme_of(url), TRANSPORT_ALIASES, "Broker scheme"))
    return cls.from_url(url, options or TransportOptions())


__all__ = ["TRANSPORT_ALIASES", "resolve_transport"]
