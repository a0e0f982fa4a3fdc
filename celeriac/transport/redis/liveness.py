"""The Redis channel's liveness renewer, run by the lease keeper process (``lease_keeper.py``).

What it renews is exactly what peers check before restoring a consumer's leases: the key
``celeriac.consumer.<id>`` (``CLAIM_DEAD`` in ``scripts.py`` takes a registered consumer's
leases once that key has expired). Registering in ``celeriac.consumers`` and re-scoring
``unacked_index`` stay with the worker's own heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import redis

from celeriac.clients.redis import RedisParams, build_client
from celeriac.config.transport_keys import RedisClientOptions


@dataclass
class RedisLiveness:
    """``SET <liveness key> 1 PX <lease ms>`` on a connection of its own."""

    params: RedisParams
    options: RedisClientOptions
    connect_timeout: float
    key: str
    lease_ms: int
    _client: redis.Redis | None = field(default=None, repr=False)

    @classmethod
    def of(cls, params: RedisParams, options: RedisClientOptions, connect_timeout: float,
           key: str, lease_ms: int) -> RedisLiveness:
        """Only what ``build_client`` reads travels to the keeper process."""
        client_options = RedisClientOptions(**{
            spec.name: getattr(options, spec.name) for spec in fields(RedisClientOptions)})
        return cls(params, client_options, connect_timeout, key, lease_ms)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def renew(self) -> None:
        if self._client is None:
            self._client = build_client(self.params, self.options, self.connect_timeout)
        self._client.set(self.key, "1", px=self.lease_ms)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["RedisLiveness"]
