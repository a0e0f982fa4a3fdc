"""The test suite's own ``redis-server``: one per pytest process, never the developer's 6379.

Tests that need "a Redis" used to flush databases of whatever listened on 127.0.0.1:6379,
wiping a developer's data and colliding with anything else on that server. They now use
this process's private server instead, so flushing one of its databases hurts nobody.

The port is chosen when this module is imported, because test modules build their URLs as
module constants (``URL = suite_redis_url(7)``) that app sources for worker subprocesses and
Celery clients are formatted from. The server itself starts on first use
(``require_suite_redis``, called by every fixture that touches it), so collecting the suite
starts nothing, and a machine without ``redis-server`` skips these tests (fails under ``CI``).
``tests/conftest.py`` stops it by PID at the end of the session.

The port is picked below the kernel's ephemeral range: other tests' ``RedisServer`` and
outgoing connections take their ports from that range, so they cannot grab ours between the
import and the start.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import redis

from tests.integration.redis_server import RedisServer, _free_port

_FIRST_PORT = 20000


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _reserved_port() -> int:
    """A port that is free now and that no ``bind(0)`` elsewhere will be handed."""
    last = _ephemeral_range_start()
    if last <= _FIRST_PORT + 100:
        return _free_port()
    for _ in range(50):
        port = random.randrange(_FIRST_PORT, last)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _free_port()


_SERVER = RedisServer(
    Path(tempfile.gettempdir()) / f"celeriac-suite-redis-{os.getpid()}",
    port=_reserved_port(),
    persistent=False,
)


def suite_redis_url(db: int = 0) -> str:
    """``redis://127.0.0.1:<suite port>/<db>``; the server may not be started yet."""
    return _SERVER.url(db)


def require_suite_redis() -> RedisServer:
    """The started suite server; skips (fails under ``CI``) when redis-server is missing."""
    if not _SERVER.running():
        _SERVER.start()
    return _SERVER


def is_suite_redis(url: str) -> bool:
    """Whether ``url`` points at the suite's own server (the only one a test may flush)."""
    parts = urlsplit(url)
    return parts.hostname == "127.0.0.1" and parts.port == _SERVER.port


def flush_suite_db(url: str) -> redis.Redis:
    """Empty ``url``'s database on the suite's server and return a client on it.

    Refuses any other server, so a test can never flush a Redis it did not start.
    """
    if not is_suite_redis(url):
        raise AssertionError(f"refusing to flush {url}: not the suite's own redis-server")
    require_suite_redis()
    client = redis.Redis.from_url(url)
    client.flushdb()
    return client


def stop_suite_redis() -> None:
    """Stop the server by PID (if it was started) and remove its directory."""
    _SERVER.stop()
    shutil.rmtree(_SERVER.directory, ignore_errors=True)
