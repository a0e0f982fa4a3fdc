"""The beat lease in Redis: ``<global_keyprefix>celeriac.beat.lock`` holding the holder's id.

Taking, renewing and releasing each run as one Lua script, so no other beat can slip in between
"is it mine?" and "extend it". The expiry is Redis's own (``PX``), so beats on different hosts
need no synchronized clocks. The redis client comes from the broker transport: this module
never imports ``redis`` itself, keeping it an optional extra.
"""

from __future__ import annotations

from typing import Any, Final

from celeriac.beat.lock import LOCK_NAME
from celeriac.exceptions import ImproperlyConfigured

_ACQUIRE: Final = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    """A lease key in Redis (see the module docstring).

    Args:
        client: a redis-py client (``decode_responses`` either way).
        key: the full key, prefix included.
        holder: this beat's id.
    """

    def __init__(self, client: Any, key: str, holder: str) -> None:
        self.client = client
        self.key = key
        self.holder = holder
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def for_transport(cls, transport: Any, holder: str) -> RedisLock:
        """The lease on a ``RedisTransport``'s server, under its ``global_keyprefix``.

        Raises:
            ImproperlyConfigured: ``transport`` is not a Redis transport.
        """
        client = getattr(transport, "client", None)
        layout = getattr(transport, "layout", None)
        if client is None or layout is None:
            raise ImproperlyConfigured(
                f"beat's Redis lease needs the Redis transport, got {transport!r}"
            )
        return cls(client, f"{layout.prefix}{LOCK_NAME}", holder)

    def acquire(self, ttl: float) -> bool:
        ttl_ms = max(int(ttl * 1000), 1)
        return bool(self._acquire(keys=[self.key], args=[self.holder, ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.holder])

    def close(self) -> None:
        return None  # the client belongs to the transport
