"""A private, throw-away RabbitMQ node for tests that must stop or restart the broker.

The shared RabbitMQ at 127.0.0.1:5672 serves everybody's tests, so a test that takes the
broker down (``stop_app``/``start_app``) starts a node of its own: its own node name
(``celeriac-test-<pid>-<n>@localhost``), AMQP and distribution ports picked free, database,
logs, config, plugins file and Erlang cookie (``HOME``) in a temporary directory, none of
``/etc/rabbitmq``'s settings (``RABBITMQ_CONF_ENV_FILE`` and ``RABBITMQ_CONFIG_FILE`` point
into the temporary directory). It runs the server scripts of ``/usr/lib/rabbitmq/bin``
directly as the current user (the ``/usr/sbin`` wrappers switch to the ``rabbitmq`` user and
would not keep the environment); ``rabbitmqctl -n <node>`` talks to it with the same cookie.
It is stopped with ``rabbitmqctl stop`` and, failing that, by the process group of the
server process this helper started.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

RABBIT_BIN = Path(os.environ.get("CELERIAC_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
_serial = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PrivateNode:
    name: str
    port: int
    env: dict[str, str]
    log_dir: Path

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"rabbitmqctl -n {self.name} {' '.join(args)} failed: {done.stderr or done.stdout}"
            )
        return done.stdout

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _await_startup(
    node: PrivateNode, process: subprocess.Popen[bytes], base: Path, timeout: float
) -> None:
    """Wait for the node to boot; ``await_startup`` fails at once until it has registered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            node.ctl("await_startup", "--timeout", "10", timeout=30)
            return
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                output = (base / "server.out").read_text(errors="replace")[-3000:]
                _unavailable(f"a private RabbitMQ node did not start: {exc}\n{output}")
            time.sleep(0.5)


@contextmanager
def private_rabbitmq(base: Path, start_timeout: float = 90) -> Iterator[PrivateNode]:
    """Start a private node under ``base``; always stop it (see the module docstring)."""
    server = RABBIT_BIN / "rabbitmq-server"
    if not server.exists() or not (RABBIT_BIN / "rabbitmqctl").exists():
        _unavailable(f"no RabbitMQ server scripts in {RABBIT_BIN} for a private node")
    port, dist_port = free_port(), free_port()
    name = f"celeriac-test-{os.getpid()}-{next(_serial)}@localhost"
    base.mkdir(parents=True, exist_ok=True)
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    log_dir = base / "log"
    env = {
        **os.environ,
        "HOME": str(base),  # the node's and rabbitmqctl's Erlang cookie
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(log_dir),
        "RABBITMQ_PID_FILE": str(base / "node.pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    node = PrivateNode(name, port, env, log_dir)
    with open(base / "server.out", "wb") as out:
        process = subprocess.Popen(
            [str(server)], env=env, cwd=base, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _await_startup(node, process, base, start_timeout)
        yield node
    finally:
        with suppress(AssertionError, subprocess.TimeoutExpired):
            node.ctl("stop", timeout=60)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the group this helper started
            process.wait(10)


__all__ = ["PrivateNode", "free_port", "private_rabbitmq"]
