"""The embedded default broker: one SQLite file in WAL mode, shared by any number of processes.

``sqlite:///relative.db``, ``sqlite:////absolute.db`` and ``sqla+sqlite:///…`` (the name kombu
users know) all land here. It needs nothing beyond the standard library and gives the same
guarantees as the networked brokers: leased fetch, heartbeat-renewed leases, delayed delivery
(ETA tasks wait in the file, not in worker memory) and a dead-letter table.

Transport options read from ``broker_transport_options``: ``busy_timeout`` (s, default
``max(connect_timeout, 5)``), ``synchronous`` (``NORMAL``; ``FULL`` to survive power loss) and
``polling_interval`` (s, default 0.05: the slowest cross-process wake-up of an idle fetch).
"""

from __future__ import annotations

import sqlite3
from typing import Self

from celeriac.clients.sqlite import parse_sqlite_url
from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.base import Capabilities
from celeriac.transport.open_channels import OpenChannels
from celeriac.transport.sqlite.channel import SqliteChannel

if sqlite3.sqlite_version_info < (3, 35, 0):  # pragma: no cover - depends on the platform
    raise ImproperlyConfigured(
        f"The SQLite broker needs SQLite >= 3.35 (UPDATE … RETURNING); this Python links "
        f"{sqlite3.sqlite_version}. Use a newer Python build or another broker."
    )


class SqliteTransport:
    """Opens ``SqliteChannel``s on one database file; no I/O until a channel is used."""

    capabilities = Capabilities(delayed_delivery=True)

    def __init__(self, path: str, options: TransportOptions | None = None) -> None:
        self.path = path
        self.options = options or TransportOptions()
        self._open: OpenChannels[SqliteChannel] = OpenChannels(weak=True)

    @classmethod
    def from_url(cls, url: str, options: TransportOptions) -> Self:
        return cls(parse_sqlite_url(url), options)

    def channel(self) -> SqliteChannel:
        return self._open.add(SqliteChannel(self.path, self.options))

    def close(self) -> None:
        self._open.close_all()

    def __repr__(self) -> str:
        return f"<SqliteTransport {self.path}>"


__all__ = ["SqliteChannel", "SqliteTransport"]
