"""A throw-away ``redis-server`` per benchmark run: no benchmark touches a Redis it did not start.

``bench_redis(url)`` yields ``url`` unchanged when the user named a server (``--redis``: the
benchmark then flushes the databases it says it uses), and otherwise starts a private,
non-persistent ``redis-server`` on a free port in a temporary directory, stopped by PID at the
end. The test suite has its own equivalent (``tests/integration/redis_server.py``); benchmarks
do not import test code.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bench.common import stop_process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis(timeout: float = 20.0) -> Iterator[str]:
    """Start ``redis-server`` (no persistence) and yield ``redis://127.0.0.1:<port>``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server), "
                         "or pass --redis URL of a server whose databases may be flushed")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", f"{directory}/redis-server.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(process, port, timeout)
            yield f"redis://127.0.0.1:{port}"
        finally:
            stop_process(process, grace=20)


def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"redis-server exited at start (port {port})")
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                time.sleep(0.02)
    finally:
        client.close()
    raise SystemExit(f"redis-server not ready on port {port} after {timeout}s")


@contextmanager
def bench_redis(url: str | None) -> Iterator[str]:
    """``url`` if the user gave one (its databases will be flushed), else a private server."""
    if url is not None:
        yield url.rstrip("/")
        return
    with private_redis() as own:
        yield own
