"""Redis entries for the contract suites (``tests/contract/conftest.py`` registers them).

``conftest.py`` adds the transports as they are and each store as ``StoreFactory(class,
factory, general)``. Redis serves priority 0 first: it is not in ``HIGHER_PRIORITY_FIRST``.

Each test's ``namespace`` becomes a ``global_keyprefix`` on db 8 (broker) or db 10 (results) of
the suite's own redis-server (``tests/suite_redis.py``), so tests never see each other's keys;
``close()`` deletes the namespace's keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import redis

from celeriac.backends.redis import RedisBackend
from celeriac.transport.redis import RedisTransport
from tests.suite_redis import require_suite_redis, suite_redis_url

BROKER_URL = suite_redis_url(8)
RESULTS_URL = suite_redis_url(10)


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


class _NamespacedTransport(RedisTransport):
    """A RedisTransport that removes its namespace's keys when closed."""

    def close(self) -> None:
        cleaner = redis.Redis.from_url(BROKER_URL)
        try:
            super().close()
            _delete_prefix(cleaner, self.layout.prefix)
        finally:
            cleaner.close()


class _NamespacedBackend(RedisBackend):
    """A RedisBackend that removes its namespace's keys when closed."""

    def close(self) -> None:
        try:
            _delete_prefix(self.client, self.keyprefix)
        finally:
            super().close()


def redis_transport(env: Any) -> RedisTransport:
    """Contract factory: ``env`` is the conftest's ``ContractEnv``."""
    require_suite_redis()
    options = env.transport_options
    # The contract's not_before invisibility holds with delay_on_publish; by default ETA
    # messages are pushed like kombu does (see test_redis_transport).
    redis = dataclasses.replace(options.redis, global_keyprefix=f"{env.namespace}:",
                                delay_on_publish=True)
    return _NamespacedTransport.from_url(BROKER_URL, dataclasses.replace(options, redis=redis))


def redis_backend(env: Any) -> RedisBackend:
    """Contract factory: results under ``<namespace>:`` on db 10."""
    require_suite_redis()
    options = env.backend_options
    redis = dataclasses.replace(options.redis, global_keyprefix=f"{env.namespace}:")
    return _NamespacedBackend.from_url(RESULTS_URL, dataclasses.replace(options, redis=redis))


TRANSPORT_FACTORIES: dict[str, Callable[[Any], Any]] = {"redis": redis_transport}
#: kind -> (store class, factory, runs the whole contract).
BACKEND_FACTORIES: dict[str, tuple[type[Any], Callable[[Any], Any], bool]] = {
    "redis": (RedisBackend, redis_backend, True)}

__all__ = ["BACKEND_FACTORIES", "TRANSPORT_FACTORIES", "redis_backend", "redis_transport"]
