"""Private ``memcached`` servers for tests: never a developer's 11211.

``MemcachedServer`` starts ``/usr/bin/memcached`` (Debian's package; ``scripts/setup-env``
installs it) on a free port of 127.0.0.1 and stops it by PID. The suite's shared one
(``require_suite_memcached``) starts on first use, one per pytest process (so xdist workers
never share one), and ``tests/conftest.py`` stops it at the end of the session; tests on it
isolate themselves with a ``global_keyprefix`` of their own. A machine without memcached
skips these tests, and fails them under ``CI``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from tests.helpers import stop_by_pid
from tests.integration.redis_server import _free_port


class MemcachedServer:
    """One ``memcached`` process on ``127.0.0.1:<port>`` (``-I`` sets the item size limit)."""

    def __init__(self, port: int | None = None, memory_mb: int = 64) -> None:
        self.port = port or _free_port()
        self.memory_mb = memory_mb
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self) -> str:
        return f"cache+memcached://{self.address}/"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers ``version``."""
        binary = shutil.which("memcached") or (
            "/usr/bin/memcached" if os.path.exists("/usr/bin/memcached") else None)
        if binary is None:
            message = ("memcached is not installed (sudo apt-get install memcached; "
                       "scripts/setup-env does it as root)")
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        args = [binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                "-m", str(self.memory_mb)]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without it
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                err = self.process.stderr.read() if self.process and self.process.stderr else b""
                raise AssertionError(f"memcached exited at start: {err.decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"version\r\n")
                    if sock.recv(64).startswith(b"VERSION"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"memcached not ready on port {self.port} after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID; SIGKILL if it does not exit."""
        if self.process is not None:
            stop_by_pid(self.process, timeout=timeout)
            if self.process.stderr is not None:
                self.process.stderr.close()


_SUITE = MemcachedServer()


def require_suite_memcached() -> MemcachedServer:
    """The suite's started server; skips (fails under ``CI``) when memcached is missing."""
    if not _SUITE.running():
        _SUITE.start()
    return _SUITE


def stop_suite_memcached() -> None:
    _SUITE.stop()
