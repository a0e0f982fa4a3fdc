"""A private ``redis-server`` for tests that stop and restart Redis under a running worker.

The shared server on 6379 must never be restarted by a test, so tests of outages start their
own: a free port, persistence on (``appendonly yes``, ``appendfsync always``) in a directory of
their own, so a restart (stop by PID, start again on the same port and directory) keeps every
key that was written before it. Stopped by PID, never by name.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.helpers import stop_by_pid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:<port>`` with its data in ``directory``.

    ``persistent=False`` writes nothing to disk (no AOF, no snapshot): faster, for a server
    that is never restarted, such as the suite's own (``tests/suite_redis.py``).
    """

    def __init__(self, directory: Path, port: int | None = None, persistent: bool = True) -> None:
        self.directory = directory
        self.port = port or _free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "redis-server.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers PING (and has loaded its AOF)."""
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        if not self.persistent:
            args += ["--appendonly", "no"]  # the last occurrence of a directive wins
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if not self.running():
                    raise AssertionError(f"redis-server exited at start:\n{self.log()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise AssertionError(f"redis-server not ready after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM by PID: Redis fsyncs its AOF and exits; SIGKILL if it does not."""
        if self.process is not None:
            stop_by_pid(self.process, timeout=timeout)

    def restart(self) -> None:
        """Stop, then start again on the same port and directory: the data survives."""
        self.stop()
        self.start()

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def private_redis(directory: Path) -> Iterator[RedisServer]:
    """A started ``RedisServer``; always stopped by PID on exit."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
