"""A throw-away RabbitMQ vhost per test (``rabbitmqctl``), and broker-wide knobs for tests.

Each test gets ``celeriac_test_<tag>_<random>``, with guest's permissions, deleted afterwards, so
queues, exchanges and dead letters never leak between tests or into ``/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.protocol.task_message import build_v2
from celeriac.transport.amqp import AmqpTransport
from celeriac.transport.base import Delivery, Outbound
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
    script = (f"Previous = application:get_env(rabbit, {key}), "
              f"ok = application:set_env(rabbit, {key}, {value}), Previous.")  # fmt: skip
    return rabbitmqctl("eval", script).strip()  # one rabbitmqctl start (~0.35 s) instead of two


def restore_env(key: str, previous: str) -> None:
    if previous.startswith("{ok,"):
        rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {previous[4:-1]}).")
    else:
        rabbitmqctl("eval", f"application:unset_env(rabbit, {key}).")


@contextmanager
def short_consumer_timeout(timeout_ms: int, tick_ms: int) -> Iterator[Callable[[], None]]:
    """A short ``consumer_timeout`` for the channels opened inside a window as short as possible.

    RabbitMQ reads ``consumer_timeout`` once per channel, when the channel opens, and checks it
    on the channel's tick, whose interval it re-reads each time the tick is armed. So a channel
    opened while the value is low keeps it for its lifetime. Yields ``close_window``: call it as
    soon as the channels under test are open, to put the broker-wide value back before channels
    of other tests pick it up; the tick stays short until the block exits (a short tick costs
    nothing but a little CPU). A channel opened *before* the block never gets the short timeout.
    """
    tick_before = set_env("channel_tick_interval", str(tick_ms))
    try:
        timeout_before = set_env("consumer_timeout", str(timeout_ms))
        restored = [False]

        def close_window() -> None:
            if not restored[0]:
                restored[0] = True
                restore_env("consumer_timeout", timeout_before)

        try:
            yield close_window
        finally:
            close_window()
    finally:
        restore_env("channel_tick_interval", tick_before)


class HeldDelivery:
    """A consumer holding one delivery unacked, as Celery holds an ETA task: the control that
    shows a short ``consumer_timeout`` was in force (open it inside ``short_consumer_timeout``).

    A thread keeps reading its connection, so RabbitMQ's ``channel.close`` is answered at once:
    RabbitMQ 3.10 sends the close again on every channel tick until it is answered, and py-amqp
    answers each queued close by reopening the channel, which two queued closes turn into an
    endless close/reopen exchange (RecursionError). Answered promptly, the channel is reopened
    once and the delivery comes back, redelivered.
    """

    def __init__(self, url: str, queue: str) -> None:
        self.queue = queue
        self.transport = AmqpTransport.from_url(url, TransportOptions())
        self.channel = self.transport.channel()
        message = build_v2(task_name="control.held", task_id=str(uuid.uuid4()), args=(),
                           kwargs={}, origin="test@host")  # fmt: skip
        self.channel.publish([Outbound(message, queue)])
        self.back: list[Delivery] = []
        self.error: BaseException | None = None
        held: list[Delivery] = []
        while not held:
            held = self.channel.fetch([queue], 1, timeout=0.2)  # never acked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="held-delivery", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while not self._stop.is_set() and not self.back:
                self.back = self.channel.fetch([self.queue], 1, timeout=0.1)
        except BaseException as exc:  # reported by closed_by_broker
            self.error = exc

    def closed_by_broker(self, timeout: float = 30) -> bool:
        """Wait until the channel was closed and the delivery came back on a new one."""
        self._thread.join(timeout)
        if self.error is not None:
            raise AssertionError(f"control consumer failed: {self.error!r}") from self.error
        link = self.channel.consumer.link
        return bool(self.back) and self.back[0].redelivered and link.generation == 2

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.transport.close()
