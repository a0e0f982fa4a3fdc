"""Transport resolution: a broker URL's scheme names the transport class.

Heavy clients live in their own subpackage and are imported only when their scheme is used, so
``celeriac`` installs with nothing but click and still runs on the embedded SQLite default.
"""

from __future__ import annotations

import difflib
from typing import Final, cast

from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.base import Transport
from celeriac.utils.imports import import_symbol

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


def scheme_of(url: str) -> str:
    """The URL's scheme (``redis`` for ``redis://...``), lower-cased."""
    return url.split("://", 1)[0].lower() if "://" in url else url.lower()


def resolve_transport(url: str, options: TransportOptions | None = None) -> Transport:
    """Build the transport that ``url`` names.

    Raises:
        ImproperlyConfigured: the scheme is unknown (with a "did you mean"), or its extra is
            not installed (with the pip command that installs it).
    """
    scheme = scheme_of(url)
    target = TRANSPORT_ALIASES.get(scheme)
    if target is None:
        close = difflib.get_close_matches(scheme, TRANSPORT_ALIASES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ImproperlyConfigured(
            f"Broker scheme {scheme!r} is not supported by celeriac.{hint} Supported: "
            f"{', '.join(sorted(TRANSPORT_ALIASES))}"
        )
    cls = cast(type[Transport], import_symbol(target))
    return cls.from_url(url, options or TransportOptions())


__all__ = ["TRANSPORT_ALIASES", "resolve_transport", "scheme_of"]
