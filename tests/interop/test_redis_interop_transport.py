"""Wire interop with real Celery 5.7 over Redis: broker db 9, results db 10.

1. A Celery client publishes; celeriac's channel fetches and decodes what it sent.
2. celeriac's channel publishes; a real ``celery worker`` subprocess runs the task and stores
   its result, which celeriac's RedisBackend reads (SUCCESS and FAILURE with the exception type).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from celeriac.backends.redis import RedisBackend
from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from celeriac.transport.redis import RedisTransport
from tests.helpers import close_celery_app, flushed_redis, wait_until
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")
msgpack = pytest.importorskip("msgpack")

pytestmark = pytest.mark.redis
BROKER = suite_redis_url(9)
RESULTS = suite_redis_url(10)


@pytest.fixture
def dbs() -> Iterator[tuple[redis.Redis, redis.Redis]]:
    with flushed_redis(BROKER) as broker, flushed_redis(RESULTS) as results:
        yield broker, results


@pytest.fixture
def transport(dbs: object) -> Iterator[RedisTransport]:
    made = RedisTransport.from_url(BROKER, TransportOptions())
    yield made
    made.close()


@pytest.fixture
def celery_app(dbs: object) -> Iterator[object]:
    app = celery.Celery("proj", broker=BROKER, backend=RESULTS)
    app.conf.accept_content = ["json", "msgpack"]
    yield app
    close_celery_app(app)


def test_celery_send_task_is_fetched_intact(celery_app: object, transport: RedisTransport) -> None:
    result = celery_app.send_task("proj.add", (2, 3))  # type: ignore[attr-defined]
    channel = transport.channel()
    got = channel.fetch(["celery"], 10, 5.0)
    assert len(got) == 1
    message = got[0].message
    assert message.headers["task"] == "proj.add" and message.headers["id"] == result.id
    assert message.headers["root_id"] == result.id and message.headers["retries"] == 0
    assert message.properties["correlation_id"] == result.id
    assert message.properties["delivery_info"]["routing_key"] == "celery"
    assert json.loads(message.body)[:2] == [[2, 3], {}]
    assert got[0].queue == "celery"
    channel.ack(got)


def test_celery_countdown_priority_msgpack_zlib(celery_app: object,
                                                transport: RedisTransport) -> None:
    app = celery_app
    sent = app.send_task(  # type: ignore[attr-defined]
        "proj.add", (4, 5), countdown=30, priority=5, serializer="msgpack", compression="zlib"
    )
    urgent = app.send_task("proj.add", (1, 1), priority=0)  # type: ignore[attr-defined]
    channel = transport.channel()
    got = channel.fetch(["celery"], 10, 5.0)
    assert [d.message.task_id for d in got] == [urgent.id, sent.id]  # 0 before 5 on Redis
    message = got[1].message
    assert message.headers["eta"] is not None
    assert message.headers["compression"] == "application/x-gzip"
    assert message.content_type == "application/x-msgpack"
    assert message.properties["priority"] == 5
    assert msgpack.unpackb(zlib.decompress(message.body))[:2] == [[4, 5], {}]
    channel.ack(got)


def test_celery_worker_restores_nothing_we_hold(celery_app: object,
                                                transport: RedisTransport,
                                                dbs: tuple[redis.Redis, redis.Redis]) -> None:
    """Our leases sit in kombu's unacked structures, readable by kombu's own restore code."""
    celery_app.send_task("proj.add", (1, 2))  # type: ignore[attr-defined]
    channel = transport.channel()
    got = channel.fetch(["celery"], 1, 5.0)
    stored = json.loads(dbs[0].hget("unacked", got[0].tag))  # type: ignore[arg-type]
    assert stored[0]["headers"]["id"] == got[0].message.task_id
    assert stored[1:] == ["", "celery"]
    channel.ack(got)


APP_SOURCE = """
from celery import Celery
app = Celery("{name}", broker="{broker}", backend="{results}")
app.conf.accept_content = ["json"]

@app.task(name="proj.add")
def add(x, y):
    return x + y

@app.task(name="proj.boom")
def boom(msg):
    raise ValueError(msg)
"""


def _envelope_message(task: str, args: list[object]) -> TaskMessage:
    from celeriac.protocol.task_message import build_v2

    return build_v2(task_name=task, task_id=str(uuid.uuid4()), args=args, kwargs={},
                    origin="celeriac-test@host")


@pytest.mark.slow
def test_celery_worker_runs_what_we_publish(transport: RedisTransport, tmp_path: Path) -> None:
    name = f"celeriac_interop_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(APP_SOURCE.format(name=name, broker=BROKER, results=RESULTS))
    )
    ok, bad = _envelope_message("proj.add", [2, 3]), _envelope_message("proj.boom", ["bad"])
    channel = transport.channel()
    channel.declare(["celery"])
    channel.publish([Outbound(ok, "celery"), Outbound(bad, "celery")])
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed in finally
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", name, "worker", "-P", "solo", "-c", "1",
         "--without-mingle", "--without-gossip", "-l", "info"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"},
    )
    backend = RedisBackend.from_url(RESULTS)
    try:
        wait_until(lambda: backend.get(bad.task_id or "").ready, timeout=60, interval=0.1,
                   message="Celery worker stored both results")
        done = backend.get(ok.task_id or "")
        assert (done.status, done.result) == ("SUCCESS", 5)
        failed = backend.get(bad.task_id or "")
        assert failed.status == "FAILURE"
        assert failed.result["exc_type"] == "ValueError"
        assert failed.result["exc_message"] == ["bad"]
    except BaseException:
        sys.stderr.write((tmp_path / "worker.log").read_text(errors="replace"))
        raise
    finally:
        backend.close()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        log.close()
