"""A throw-away RabbitMQ vhost per test (``rabbitmqctl``), and broker-wide knobs for tests.

Each test gets ``celeriac_test_<tag>_<random>``, with guest's permissions, deleted afterwards, so
queues, exchanges and dead letters never leak between tests or into ``/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.helpers import require_service

HOST = "127.0.0.1"
PORT = 5672


@dataclass(frozen=True)
class Vhost:
    name: str

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{PORT}/{self.name}"

    def ctl(self, *args: str, check: bool = True) -> str:
        return rabbitmqctl(*args, "-p", self.name, check=check)

    def close_connections(self) -> None:
        rabbitmqctl("close_all_connections", "--vhost", self.name, "celeriac test: drop all")

    def queues(self) -> dict[str, int]:
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        pairs = (line.rsplit("\t", 1) for line in out.splitlines() if "\t" in line)
        return {name: int(count) for name, count in pairs}


def rabbitmqctl(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def _require_rabbitmqctl() -> None:
    require_service("RabbitMQ", HOST, PORT)
    if shutil.which("rabbitmqctl") is None:
        reason = "rabbitmqctl not found: these tests create and delete their own vhosts"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def rabbitmq_vhost(tag: str) -> Iterator[Vhost]:
    _require_rabbitmqctl()
    vhost = Vhost(f"celeriac_test_{tag}_{uuid.uuid4().hex[:8]}")
    rabbitmqctl("add_vhost", vhost.name)
    try:
        rabbitmqctl("set_permissions", "-p", vhost.name, "guest", ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost.name, check=False)


def set_env(key: str, value: str) -> str:
    """Set a ``rabbit`` application env value; returns the previous ``{ok,V}``/``undefined``."""
    previous = rabbitmqctl("eval", f"application:get_env(rabbit, {key}).").strip()
    rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {value}).")
    return previous


def restore_env(key: str, previous: str) -> None:
    if previous.startswith("{ok,"):
        rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {previous[4:-1]}).")
    else:
        rabbitmqctl("eval", f"application:unset_env(rabbit, {key}).")
