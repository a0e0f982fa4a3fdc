"""Property-based: whatever bad messages sit among good ones, on every broker,

* every bad message is dead-lettered, with a reason and the queue it came from;
* every good message runs exactly once;
* the worker stays up (no fetch, consumer or heartbeat error, its threads alive).

Good messages go through celeriac's publisher; bad ones are written raw with the broker's own
client (SQLite ``INSERT``, Redis ``LPUSH``, RabbitMQ ``basic_publish``), in a random order
among the good ones. One worker per broker serves every example (starting one per example
would spend the time budget on start-ups); each broker's run stays well under a minute.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import decode_body, parse_iso_timestamp
from celeriac.transport.amqp.codec import to_amqp
from tests.helpers import wait_until
from tests.integration.amqp_vhost import rabbitmq_vhost
from tests.integration.poison import (
    TASK,
    PoisonWorker,
    RawHeadersMessage,
    deep_json,
    deep_table,
    envelope_text,
    good_message,
    insert_rows,
    poison_worker,
    raw_amqp,
    redis_envelope,
    row_of,
)
from tests.integration.redis_server import private_redis

pytestmark = pytest.mark.slow

#: 40 examples a broker keep each run to seconds; POISON_FUZZ_EXAMPLES=1000 searches harder.
FUZZ = settings(max_examples=int(os.environ.get("POISON_FUZZ_EXAMPLES", "40")), deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Log lines that mean the worker itself stumbled (not a message being set aside).
STUMBLES = ("Fetching from", "Consumer error", "Heartbeat failed", "Handling message")


# -- what a batch is made of ---------------------------------------------------------------------
@dataclass(frozen=True)
class Good:
    extra: Any


@dataclass(frozen=True)
class Bad:
    """``kind`` is one of the logical defects below, or ``raw`` (broker-specific bytes)."""

    kind: str
    value: Any


def _unparseable(value: Any) -> bool:
    if value is None or value == "":
        return False  # means "no eta/expires"
    try:
        parse_iso_timestamp(value)
    except Exception:
        return True
    return False


def _undecodable(body: bytes) -> bool:
    message = TaskMessage(headers={"task": TASK, "id": "x"}, properties={}, body=body)
    try:
        decode_body(message, frozenset({"application/json"}))
    except Exception:
        return True
    return False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
#: What no broker can carry is left out: infinities (JSON has none; orjson writes null) and
#: integers beyond 64 bits (AMQP field tables have no type for them).
int64 = st.integers(-(2**63), 2**63 - 1)
dates = st.one_of(st.text(max_size=20), int64,
                  st.floats(allow_nan=False, allow_infinity=False),
                  st.lists(int64, max_size=2)).filter(_unparseable)
goods = st.builds(Good, json_values)


def logical_bads(max_depth: int) -> st.SearchStrategy[Bad]:
    return st.one_of(
        st.builds(Bad, st.just("deep_headers"), st.integers(300, max_depth)),
        st.builds(Bad, st.just("bad_date"), st.tuples(st.sampled_from(["eta", "expires"]), dates)),
        st.builds(Bad, st.just("bad_body"), st.binary(max_size=40).filter(_undecodable)),
        st.builds(Bad, st.just("deep_body"), st.integers(1_100, max_depth)),
        st.builds(Bad, st.just("no_field"), st.sampled_from(["task", "id"])),
        st.builds(Bad, st.just("unknown_task"),
                  st.text(min_size=1, max_size=20).filter(
                      lambda n: n != TASK and not n.startswith("celery."))),
    )


def batches(bad: st.SearchStrategy[Bad]) -> st.SearchStrategy[list[Good | Bad]]:
    return st.lists(st.one_of(goods, bad), min_size=1, max_size=8).filter(
        lambda items: any(isinstance(i, Bad) for i in items))


def logical_message(bad: Bad) -> TaskMessage:
    """The ``TaskMessage`` of a logical defect (``deep_headers`` is written per broker)."""
    message = good_message("never-runs")
    if bad.kind == "bad_date":
        field, value = bad.value
        message.headers[field] = value
    elif bad.kind == "bad_body":
        message = TaskMessage(message.headers, message.properties, bad.value)
    elif bad.kind == "deep_body":
        body = ("[" * bad.value + "]" * bad.value).encode()
        message = TaskMessage(message.headers, message.properties, body)
    elif bad.kind == "no_field":
        del message.headers[bad.value]
    elif bad.kind == "unknown_task":
        message.headers["task"] = bad.value
    else:
        raise AssertionError(bad.kind)
    return message


# -- the property, for any broker -------------------------------------------------------------
class Stumbles(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith(STUMBLES):
            self.lines.append(text)


@dataclass
class Fuzzed:
    running: PoisonWorker
    inject: Callable[[Bad], None]
    stumbles: Stumbles


def check(fuzzed: Fuzzed, batch: list[Good | Bad]) -> None:
    running = fuzzed.running
    dead_before = len(running.dead_letters())
    tokens: list[str] = []
    for item in batch:
        if isinstance(item, Good):
            tokens += running.publish_good(1, [item.extra])
        else:
            fuzzed.inject(item)
    bad = len(batch) - len(tokens)
    wait_until(lambda: running.settled(tokens, dead_before + bad), 60,
               message=f"{len(tokens)} good run, {bad} bad set aside")
    letters = running.dead_letters()
    assert len(letters) == dead_before + bad
    assert all(letter.reason and letter.queue == "celery" for letter in letters[dead_before:])
    with running.lock:
        assert all(running.ran[token] == 1 for token in tokens)
        assert all(count == 1 for count in running.ran.values())
    assert running.alive()
    assert fuzzed.stumbles.lines == []
    assert running.channel is not None
    running.channel.purge_dead_letters()  # keeps listing them cheap in the next example


@pytest.fixture(scope="module")
def stumbles() -> Iterator[Stumbles]:
    handler = Stumbles()
    logger = logging.getLogger("celeriac")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- SQLite --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_fuzzed(tmp_path_factory: pytest.TempPathFactory,
                  stumbles: Stumbles) -> Iterator[Fuzzed]:
    path = str(tmp_path_factory.mktemp("fuzz") / "broker.db")

    def inject(bad: Bad) -> None:
        if bad.kind == "raw":
            headers, properties = bad.value
            insert_rows(path, [(headers, properties, "application/json", b"[[], {}, {}]")])
        elif bad.kind == "deep_headers":
            props = json.dumps(good_message("x").properties)
            insert_rows(path, [(deep_json(bad.value), props, "application/json", b"[]")])
        else:
            insert_rows(path, [row_of(logical_message(bad))])

    with poison_worker(f"sqlite:///{path}") as running:
        yield Fuzzed(running, inject, stumbles)


def _not_an_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


sqlite_columns = st.one_of(
    st.text(max_size=30).filter(_not_an_object),
    json_values.map(json.dumps).filter(_not_an_object),
)
sqlite_raw = st.builds(Bad, st.just("raw"), st.one_of(
    st.tuples(sqlite_columns, st.just("{}")),
    st.tuples(st.just(json.dumps(good_message("x").headers)), sqlite_columns),
))


@FUZZ
@given(batch=batches(st.one_of(logical_bads(50_000), sqlite_raw)))
def test_sqlite_poison_fuzz(sqlite_fuzzed: Fuzzed, batch: list[Good | Bad]) -> None:
    check(sqlite_fuzzed, batch)


# -- Redis ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_fuzzed(tmp_path_factory: pytest.TempPathFactory,
                 stumbles: Stumbles) -> Iterator[Fuzzed]:
    with private_redis(Path(tmp_path_factory.mktemp("redis"))) as server:
        client = server.client()

        def inject(bad: Bad) -> None:
            if bad.kind == "raw":
                client.lpush("celery", bad.value)
            elif bad.kind == "deep_headers":
                client.lpush("celery", envelope_text(deep_json(bad.value)))
            else:
                client.lpush("celery", redis_envelope(logical_message(bad)))

        with poison_worker(server.url()) as running:
            yield Fuzzed(running, inject, stumbles)
        client.close()


redis_raw = st.builds(Bad, st.just("raw"), st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1_100, 50_000).map(lambda d: ("[" * d + "]" * d).encode()),
))


@FUZZ
@given(batch=batches(st.one_of(logical_bads(50_000), redis_raw)))
def test_redis_poison_fuzz(redis_fuzzed: Fuzzed, batch: list[Good | Bad]) -> None:
    check(redis_fuzzed, batch)


# -- RabbitMQ ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def amqp_fuzzed(stumbles: Stumbles) -> Iterator[Fuzzed]:
    with rabbitmq_vhost("fuzz") as vhost, raw_amqp(vhost.name) as raw:
        raw.queue_declare("celery", durable=True, auto_delete=False)

        def inject(bad: Bad) -> None:
            if bad.kind == "raw":
                content_type, body = bad.value
                message = good_message("never-runs")
                raw.basic_publish(to_amqp(TaskMessage(message.headers, message.properties,
                                                      body, content_type=content_type)),
                                  exchange="", routing_key="celery")
            elif bad.kind == "deep_headers":
                raw.basic_publish(RawHeadersMessage(b"[[], {}, {}]", deep_table(bad.value)),
                                  exchange="", routing_key="celery")
            else:
                raw.basic_publish(to_amqp(logical_message(bad)), exchange="",
                                  routing_key="celery")

        with poison_worker(vhost.url) as running:
            yield Fuzzed(running, inject, stumbles)


amqp_raw = st.builds(Bad, st.just("raw"), st.tuples(
    st.sampled_from(["application/x-bogus", "text/plain", "application/x-python-serialize"]),
    st.binary(max_size=40),
))


@FUZZ
@given(batch=batches(st.one_of(logical_bads(15_000), amqp_raw)))
def test_amqp_poison_fuzz(amqp_fuzzed: Fuzzed, batch: list[Good | Bad]) -> None:
    check(amqp_fuzzed, batch)

