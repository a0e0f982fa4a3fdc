"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.redis_server import RedisServer, private_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (free port, stopped by PID): nothing shared is touched.

    A module that wants one server for all its tests overrides this with a module-scoped one.
    """
    with private_redis(tmp_path / "redis") as started:
        yield started
