"""The Redis channel's liveness renewer, run by the lease keeper process (``lease_keeper.py``).

What it renews is exactly what peers check before restoring a consumer's leases: the key
``celeriac.consumer.<id>`` (``CLAIM_DEAD`` in ``scripts.py`` takes a registered consumer's
leases once that key has expired). Registering in ``celeriac.consumers`` and re-scoring
``unacked_index`` stay with the worker's own heartbeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from celeriac.clients.redis import RedisParams, build_client

#: The transport options ``build_client`` reads; only these travel to the keeper process.
_CLIENT_OPTIONS = ("health_check_interval", "max_connections", "socket_timeout",
                   "sentinel_kwargs", "master_name")


@dataclass
class RedisLiveness:
    """``SET <liveness key> 1 PX <lease ms>`` on a connection of its own."""

    params: RedisParams
    extra: dict[str, Any]
    connect_timeout: float
    key: str
    lease_ms: int
    _client: redis.Redis | None = field(default=None, repr=False)

    @classmethod
    def of(cls, params: RedisParams, extra: Mapping[str, Any], connect_timeout: float,
           key: str, lease_ms: int) -> RedisLiveness:
        options = {name: extra[name] for name in _CLIENT_OPTIONS if name in extra}
        return cls(params, options, connect_timeout, key, lease_ms)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def renew(self) -> None:
        if self._client is None:
            self._client = build_client(self.params, self.extra, self.connect_timeout)
        self._client.set(self.key, "1", px=self.lease_ms)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["RedisLiveness"]
