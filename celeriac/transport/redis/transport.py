"""``RedisTransport``: kombu-compatible Redis broker for ``redis://``, ``rediss://``,
``redis+socket://`` and ``sentinel://`` URLs.
"""

from __future__ import annotations

import threading
from typing import Self

import redis

from celeriac.clients.redis import RedisParams, build_client, describe, parse_url
from celeriac.config.frozen import TransportOptions
from celeriac.transport.base import Capabilities
from celeriac.transport.open_channels import OpenChannels
from celeriac.transport.redis.channel import RedisChannel
from celeriac.transport.redis.keys import KeyLayout
from celeriac.transport.redis.scripts import Scripts


class RedisTransport:
    """One redis-py client (thread-safe pool) shared by every channel of the process.

    Channels are cheap: each is a lease identity (consumer id) over the shared pool, so a
    worker can open one per consumer thread without multiplying connections.
    """

    capabilities = Capabilities(delayed_delivery=True, native_routing=False)

    def __init__(self, params: RedisParams, options: TransportOptions) -> None:
        self.params = params
        self.options = options
        self.layout = KeyLayout.from_options(options.redis)
        self._client: redis.Redis | None = None
        self._scripts: Scripts | None = None
        self._open: OpenChannels[RedisChannel] = OpenChannels()
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, options: TransportOptions) -> Self:
        return cls(parse_url(url, options.redis), options)

    @property
    def client(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                self._client = build_client(
                    self.params, self.options.redis, self.options.connect_timeout
                )
                self._scripts = Scripts(self._client)
            return self._client

    def channel(self) -> RedisChannel:
        client = self.client
        assert self._scripts is not None
        return self._open.add(RedisChannel(
            client, self.layout, self._scripts, self.options,
            where=describe(self.params, self.options.redis), params=self.params))

    def close(self) -> None:
        self._open.close_all()
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
            client.connection_pool.disconnect()

    def __repr__(self) -> str:
        return f"<RedisTransport {self.params.redacted()}>"


__all__ = ["RedisTransport"]
