"""``redis_max_connections``, ``redis_socket_timeout`` and ``redis_socket_connect_timeout``
shape the Redis result store's client, as in Celery; ``result_backend_transport_options`` win.

Building the client does no I/O (redis-py connects on first use), so no server is needed to
see what it was configured with.
"""

from __future__ import annotations

from typing import Any

from celeriac import Celery
from tests.helpers import unique_name

URL = "redis://127.0.0.1:6399/3"  # never connected to


def pool_of(app: Celery) -> Any:
    return app.backend.client.connection_pool  # type: ignore[attr-defined]


def test_redis_settings_reach_the_result_client() -> None:
    app = Celery(unique_name("redis_settings"), broker="memory://", backend=URL)
    app.conf.update(redis_max_connections=7, redis_socket_timeout=3.5,
                    redis_socket_connect_timeout=1.25)
    try:
        pool = pool_of(app)
        assert pool.max_connections == 7
        assert pool.connection_kwargs["socket_timeout"] == 3.5
        assert pool.connection_kwargs["socket_connect_timeout"] == 1.25
    finally:
        app.close()


def test_transport_options_win_over_the_settings() -> None:
    app = Celery(unique_name("redis_settings"), broker="memory://", backend=URL)
    app.conf.update(redis_socket_timeout=3.5, result_backend_transport_options={
        "socket_timeout": 9.0, "max_connections": 11})
    try:
        pool = pool_of(app)
        assert pool.connection_kwargs["socket_timeout"] == 9.0
        assert pool.max_connections == 11
    finally:
        app.close()


def test_celerys_defaults_apply_when_unset() -> None:
    app = Celery(unique_name("redis_settings"), broker="memory://", backend=URL)
    try:
        pool = pool_of(app)
        assert pool.connection_kwargs["socket_timeout"] == 120.0  # redis_socket_timeout
        assert pool.connection_kwargs["socket_connect_timeout"] == 4.0
    finally:
        app.close()
