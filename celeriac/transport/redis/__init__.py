"""Redis broker transport, wire-compatible with kombu's ``redis://`` (wire-protocol.md §2)."""

from __future__ import annotations

from celeriac.transport.redis.channel import RedisChannel
from celeriac.transport.redis.transport import RedisTransport

__all__ = ["RedisChannel", "RedisTransport"]
