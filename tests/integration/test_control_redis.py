"""Remote control on Redis (db 11) against real Celery 5.7, both ways.

* ``celery inspect ping`` (a Celery client) gets a pong from a celeriac ``ControlNode``;
* celeriac's ``Control.ping`` / ``inspect`` get answers from a real ``celery worker``.

Until the Redis channel exposes the fanout itself, the tests add ``RedisFanout`` to it with a
small delegating wrapper.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.control import Control
from celeriac.control.revocations import RedisRevocationStore, open_revocation_store
from celeriac.transport.base import FanoutChannel
from celeriac.transport.redis.fanout import RedisFanout
from celeriac.worker.control import ControlNode
from celeriac.worker.revoked import RevokedRegistry
from tests.helpers import flushed_redis, wait_until, write_module
from tests.suite_redis import suite_redis_url
from tests.worker.test_control_node import FakeWorker

DB = 11
URL = suite_redis_url(DB)
CELERY = str(Path(sys.executable).with_name("celery"))


class FanoutRedisChannel:
    """A RedisChannel plus RedisFanout's methods (what the lead wires into the channel)."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._fanout = RedisFanout(channel.client, channel.layout)
        for name in ("broadcast", "subscribe", "send_reply", "bind_reply_queue",
                     "unbind_reply_queue"):
            setattr(self, name, getattr(self._fanout, name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


@pytest.fixture
def redis_db() -> Iterator[Any]:
    with flushed_redis(URL) as client:
        yield client


@pytest.fixture
def app(redis_db: Any) -> Iterator[Celery]:
    app = Celery("control_redis", broker=URL, set_as_current=False)
    yield app
    app.close()


def _channel(app: Celery) -> FanoutRedisChannel:
    channel = FanoutRedisChannel(app.transport.channel())
    assert isinstance(channel, FanoutChannel)
    return channel


def _celery_module(tmp_path: Path) -> str:
    name = f"celery_peer_{uuid.uuid4().hex[:8]}"
    write_module(tmp_path, name, f"""
        from celery import Celery
        app = Celery("{name}", broker="{URL}")
        app.conf.broker_connection_retry_on_startup = True

        @app.task(name="peer.add")
        def add(x, y):
            return x + y
    """)
    return name


def _run(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run a Celery command; stop it by PID if it outlives ``timeout``."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return process.returncode, out.decode(errors="replace")


def test_celery_inspect_ping_gets_pong_from_celeriac(app: Celery, tmp_path: Path) -> None:
    hostname = f"celeriac-{uuid.uuid4().hex[:6]}@test"
    view = FakeWorker(hostname, RevokedRegistry())
    node = ControlNode(_channel(app), view, poll_timeout=0.2)
    assert node.start()
    try:
        module = _celery_module(tmp_path)
        code, out = _run([CELERY, "-A", module, "inspect", "ping", "-d", hostname,
                          "-t", "10"], tmp_path)
        assert code == 0, out
        assert hostname in out and "pong" in out, out
        code, out = _run([CELERY, "-A", module, "inspect", "registered", "-d", hostname,
                          "-t", "10", "--json"], tmp_path)
        assert code == 0 and "proj.add" in out, out
    finally:
        node.stop()
        node.channel.close()


def test_celeriac_control_talks_to_celery_worker(app: Celery, tmp_path: Path) -> None:
    module = _celery_module(tmp_path)
    hostname = f"celery-{uuid.uuid4().hex[:6]}@test"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    log_path = tmp_path / "celery-worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [CELERY, "-A", module, "worker", "-n", hostname, "-P", "solo", "-Q",
             f"q-{uuid.uuid4().hex[:6]}", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "info"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    control = Control(app, channel=_channel(app))
    try:
        replies: list[Any] = []

        def pong() -> bool:
            replies[:] = control.ping(destination=[hostname], timeout=1.0)
            return bool(replies)

        wait_until(pong, timeout=60, message="a pong from the Celery worker")
        assert replies == [{hostname: {"ok": "pong"}}]
        inspect = control.inspect(destination=hostname, timeout=5.0)
        assert "peer.add" in inspect.registered()
        control.revoke("r-1", destination=[hostname])
        wait_until(lambda: inspect.revoked() == ["r-1"], timeout=10,
                   message="the Celery worker to list the revoked id")
        assert control.rate_limit("peer.add", "5/m", destination=[hostname], reply=True,
                                  timeout=5.0) == [
            {hostname: {"ok": "new rate limit set successfully"}}]
    except BaseException:
        sys.stderr.write(log_path.read_text(errors="replace"))
        raise
    finally:
        control.close()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def test_durable_revocations_on_redis(app: Celery, redis_db: Any) -> None:
    store = open_revocation_store(app.transport)
    assert isinstance(store, RedisRevocationStore)
    registry = RevokedRegistry(store)
    registry.refresh()
    store.add(["a", "b"], 60)
    assert registry.refresh() and "a" in registry and "b" in registry
    assert not registry.refresh()
    assert redis_db.zscore("celeriac.revoked", "a") is not None


def test_prefixed_fanout_reaches_node(redis_db: Any) -> None:
    app = Celery("prefixed", broker=URL, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": "pfx:"}
    try:
        view = FakeWorker("w-prefix@test", RevokedRegistry())
        node = ControlNode(_channel(app), view, poll_timeout=0.2)
        assert node.start()
        control = Control(app, channel=_channel(app))
        try:
            assert control.ping(timeout=5.0, limit=1) == [{"w-prefix@test": {"ok": "pong"}}]
            assert redis_db.smembers("pfx:_kombu.binding.reply.celery.pidbox")
        finally:
            control.close()
            node.stop()
            node.channel.close()
        assert not redis_db.exists("pfx:_kombu.binding.reply.celery.pidbox")
    finally:
        app.close()
