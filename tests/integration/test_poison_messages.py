"""Each kind of poison message is set aside with its reason; the good ones around it run once.

Before: a row or envelope that did not decode (not JSON, a JSON string, nested deeper than the
JSON parser recurses) raised out of ``fetch`` after its lease was taken, so the whole fetched
batch stayed leased to a live worker and never ran; on Redis, a dead worker's poison message
also broke the survivor's restore, so the dead worker's good messages were never restored.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import build_v2
from celeriac.transport.amqp.codec import to_amqp
from celeriac.transport.redis import framing
from celeriac.transport.redis.channel import RedisChannel
from tests.helpers import running_worker, wait_until
from tests.integration.amqp_vhost import rabbitmq_vhost
from tests.integration.poison import (
    DEEP,
    RawHeadersMessage,
    deep_json,
    deep_table,
    envelope_text,
    good_message,
    insert_rows,
    make_app,
    poison_worker,
    raw_amqp,
    redis_envelope,
    row_of,
)
from tests.integration.redis_server import RedisServer, private_redis

pytestmark = pytest.mark.slow


# -- SQLite ------------------------------------------------------------------------------------
def test_sqlite_rows_that_do_not_decode_are_set_aside_and_the_batch_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "broker.db")
    good_props = json.dumps(good_message("x").properties)
    bad_rows = [
        ("{not json", good_props),
        ('"a JSON string"', good_props),
        (json.dumps(good_message("x").headers), "[1, 2]"),
        (json.dumps(good_message("x").headers), "not json either"),
        (deep_json(), good_props),
    ]
    tokens = [uuid.uuid4().hex for _ in range(2 * len(bad_rows))]

    def publish(app: Celery) -> None:
        app.transport.channel().declare(["celery"])  # creates the file's tables
        rows = []
        for i, (headers, properties) in enumerate(bad_rows):
            rows.append(row_of(good_message(tokens[2 * i])))
            rows.append((headers, properties, "application/json", b"[[], {}, {}]"))
            rows.append(row_of(good_message(tokens[2 * i + 1])))
        insert_rows(path, rows)

    with poison_worker(f"sqlite:///{path}", before=publish) as running:
        wait_until(lambda: running.settled(tokens, len(bad_rows)), 30,
                   message="every good row run and every bad row set aside")
        letters = running.dead_letters()
        assert running.alive()
    assert len(letters) == len(bad_rows)
    reasons = sorted(letter.reason for letter in letters)
    assert sum("nested too deeply" in r for r in reasons) == 1
    assert sum("must be JSON objects" in r for r in reasons) == 2
    assert sum("not JSON" in r for r in reasons) == 2
    assert all(n == 1 for n in running.ran.values()) and len(running.ran) == len(tokens)


def test_sqlite_dead_letter_of_an_undecodable_row_keeps_its_text(tmp_path: Path) -> None:
    path = str(tmp_path / "broker.db")

    def publish(app: Celery) -> None:
        app.transport.channel().declare(["celery"])
        insert_rows(path, [("{not json", "{}", "application/json", b"body bytes")])

    with poison_worker(f"sqlite:///{path}", before=publish) as running:
        wait_until(lambda: len(running.dead_letters()) == 1, 30, message="one dead letter")
        (letter,) = running.dead_letters()
        assert running.channel is not None
        assert running.channel.requeue_dead_letters() == 0  # cannot be requeued as it is
    record = json.loads(letter.payload)
    assert record["raw_headers"] == "{not json" and record["headers"] is None


# -- Redis -------------------------------------------------------------------------------------
@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path / "redis") as server:
        yield server


def test_redis_envelope_nested_too_deep_is_set_aside_and_the_batch_runs(
    redis_server: RedisServer,
) -> None:
    tokens = [uuid.uuid4().hex for _ in range(6)]
    client = redis_server.client()
    bad = [
        envelope_text(deep_json()),  # headers nested too deep
        envelope_text('{"id": "x", "task": "poison.record", "deep": ' + deep_json() + "}"),
        ("[" * DEEP + "]" * DEEP).encode(),  # the whole envelope
    ]
    good = [redis_envelope(good_message(token)) for token in tokens]

    def publish(app: Celery) -> None:
        # RPOP serves the oldest first: good, bad, good, bad... in one fetched batch.
        client.lpush("celery", good[0], bad[0], good[1], bad[1], good[2], bad[2], *good[3:])

    with poison_worker(redis_server.url(), before=publish) as running:
        wait_until(lambda: running.settled(tokens, len(bad)), 30,
                   message="every good message run and every bad one set aside")
        letters = running.dead_letters()
        assert running.alive()
    assert len(letters) == len(bad)
    assert all("nested too deeply" in letter.reason for letter in letters)
    assert sorted(len(letter.payload) for letter in letters) == sorted(len(b) for b in bad)
    assert all(n == 1 for n in running.ran.values()) and len(running.ran) == len(tokens)


def test_a_dead_workers_poison_message_does_not_stop_the_survivor_restoring(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while holding a poison message and good ones: the survivor restores
    the good ones (they run once) and sets the poison one aside; a worker that dies later
    still has its messages restored."""
    tokens = [uuid.uuid4().hex for _ in range(20)]
    late = uuid.uuid4().hex
    client = redis_server.client()
    dead_app, _, _ = make_app(redis_server.url(), main="doomed")
    later = dead_app.transport.channel()  # dies after the survivor's first restore
    assert isinstance(later, RedisChannel)
    client.lpush("celery", redis_envelope(good_message(late)))
    assert len(later.fetch(["celery"], 10, timeout=1.0)) == 1
    doomed = dead_app.transport.channel()
    assert isinstance(doomed, RedisChannel)
    good = [redis_envelope(good_message(token)) for token in tokens]
    client.lpush("celery", *good[:10], envelope_text(deep_json()), *good[10:])
    # The doomed worker leases everything and dies before deciding about any of it (as a
    # kill -9 right after a fetch): its leases are never released, its liveness key expires.
    monkeypatch.setattr(framing, "decode_leased", lambda out, tags: ([], []))
    assert doomed.fetch(["celery"], 100, timeout=0.2) == []
    monkeypatch.undo()
    assert client.hlen(doomed.leases_key) == len(tokens) + 1

    beating = threading.Event()
    beating.set()

    def keep_alive() -> None:
        while beating.is_set():
            later._beat()
            time.sleep(0.1)

    beater = threading.Thread(target=keep_alive, daemon=True)
    beater.start()
    try:
        with poison_worker(redis_server.url()) as survivor:
            wait_until(lambda: survivor.settled(tokens, 1), 30,
                       message="the dead worker's good messages restored and run")
            letters = survivor.dead_letters()
            assert not survivor.ran[late]
            beating.clear()  # the second worker dies now
            beater.join()
            wait_until(lambda: survivor.settled([late], 1), 30,
                       message="a later dead worker's message restored and run")
            assert survivor.alive()
    finally:
        beating.clear()
        dead_app.close()
    assert len(letters) == 1 and "nested too deeply" in letters[0].reason
    assert all(n == 1 for n in survivor.ran.values()) and len(survivor.ran) == len(tokens) + 1


def test_redis_deadletter_record_of_a_deep_envelope_keeps_its_bytes() -> None:
    """``make_record`` reads the task id when it can; a deep envelope must not stop it."""
    from celeriac.transport.redis.deadletter import make_record, parse_record

    raw = envelope_text(deep_json())
    letter, _ = parse_record(make_record(raw, "celery", "nested too deeply"))
    assert letter.payload == raw


# -- RabbitMQ ----------------------------------------------------------------------------------
def test_amqp_headers_nested_too_deep_and_bad_dates_are_set_aside_and_the_rest_runs() -> None:
    """Before: py-amqp's decoder raised RecursionError while reading the content header, the
    consumer took it for a broken connection and reconnected, and the message came back on
    the new connection: forever, with every message behind it waiting."""
    tokens = [uuid.uuid4().hex for _ in range(8)]
    with rabbitmq_vhost("poison") as vhost:

        def publish(app: Celery) -> None:
            channel = app.transport.channel()
            channel.declare(["celery"])
            channel.close()
            with raw_amqp(vhost.name) as raw:
                for i, token in enumerate(tokens):
                    raw.basic_publish(to_amqp(good_message(token)), exchange="",
                                      routing_key="celery")
                    if i == 2:
                        raw.basic_publish(RawHeadersMessage(b"[[], {}, {}]", deep_table(10_000)),
                                          exchange="", routing_key="celery")
                    if i == 6:  # py-amqp reads this but cannot write it into a dead copy
                        raw.basic_publish(RawHeadersMessage(b"[[], {}, {}]", deep_table(600)),
                                          exchange="", routing_key="celery")
                    if i == 4:
                        late = good_message(uuid.uuid4().hex)
                        late.headers["eta"] = "tomorrow at noon"
                        raw.basic_publish(to_amqp(late), exchange="", routing_key="celery")

        with poison_worker(vhost.url, before=publish) as running:
            wait_until(lambda: running.settled(tokens, 3), 60,
                       message="every good message run and the three bad ones set aside")
            letters = running.dead_letters()
            assert running.alive()
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 3
    assert "no 'task' header" in reasons[0]
    assert "tomorrow at noon" in reasons[1]
    assert "nested too deeply" in reasons[2]
    assert all(n == 1 for n in running.ran.values()) and len(running.ran) == len(tokens)


KILL_APP = """
import os, time
from celeriac import Celery

app = Celery("{name}", broker="{url}")
app.conf.celeriac_lease_timeout = 2.0
app.conf.celeriac_lease_heartbeat = 0.25
HERE = os.path.dirname(os.path.abspath(__file__))


@app.task(name="poison.record", bind=True)
def record(self, token, extra=None):
    if extra == "slow" and self.request.hostname.startswith("doomed@"):
        open(os.path.join(HERE, "started-" + token), "w").close()
        time.sleep(60)  # still running when the worker is killed
    with open(os.path.join(HERE, "runs.txt"), "a") as fh:
        fh.write(token + "\\n")
"""


def test_kill_9_after_a_poison_batch_the_survivor_restores_every_message(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A real worker sets a poison batch aside, then is killed with SIGKILL while it holds
    good messages: a second worker runs every one of them (the issue lost 11 of 300)."""
    name = f"poison_kill_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(KILL_APP.format(name=name, url=redis_server.url()))
    client = redis_server.client()
    slow = [uuid.uuid4().hex for _ in range(4)]
    quick = [uuid.uuid4().hex for _ in range(40)]
    poison = [envelope_text(deep_json()), ("[" * DEEP + "]" * DEEP).encode(),
              redis_envelope(_with_header(good_message("bad-eta"), "eta", "tomorrow at noon"))]
    channel = make_app(redis_server.url(), main="inspect")[0].transport.channel()
    args = ["-A", name, "worker", "-P", "threads", "-c", "4", "--prefetch-multiplier", "16"]
    try:
        client.lpush("celery", *poison, *[redis_envelope(good_message(t)) for t in quick[:20]])
        with running_worker(tmp_path, *args, "-n", "doomed@%h", name="doomed") as doomed:
            wait_until(lambda: len(channel.dead_letters()) == len(poison), 30,
                       message="the poison batch set aside")
            # The doomed worker now holds slow tasks (running) and quick ones behind them.
            client.lpush("celery", *[redis_envelope(_slow(t)) for t in slow],
                         *[redis_envelope(good_message(t)) for t in quick[20:]])
            wait_until(lambda: all((tmp_path / f"started-{t}").exists() for t in slow), 30,
                       message="the slow tasks to start on the doomed worker")
            doomed.kill()
        (tmp_path / "runs.txt").touch()
        with running_worker(tmp_path, *args, "-n", "survivor@%h", name="survivor"):
            wait_until(lambda: set(quick) <= _runs(tmp_path), 60,
                       message="every quick task run after the kill")
        assert len(channel.dead_letters()) == len(poison)
    finally:
        channel.close()
    runs = (tmp_path / "runs.txt").read_text().split()
    assert all(runs.count(t) == 1 for t in quick)  # none lost, none run twice


def _with_header(message: TaskMessage, key: str, value: object) -> TaskMessage:
    message.headers[key] = value
    return message


def _slow(token: str) -> TaskMessage:
    message = build_v2(task_name="poison.record", task_id=str(uuid.uuid4()),
                       args=(token, "slow"), kwargs={}, origin="poison@test")
    return message


def _runs(directory: Path) -> set[str]:
    path = directory / "runs.txt"
    return set(path.read_text().split()) if path.exists() else set()
