"""Tools of the poison-message tests: a worker in this process, and bad messages as raw bytes.

Good messages go through celeriac's own publisher; bad ones are written straight into the
broker with its raw client (an ``INSERT`` on SQLite, ``LPUSH`` on Redis, ``basic_publish`` on
RabbitMQ), as a buggy or hostile producer would. Every test then checks the same three things:
each bad message is dead-lettered with a reason, each good one runs exactly once, and the
worker stays up.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import amqp  # type: ignore[import-untyped]

from celeriac import Celery
from celeriac.protocol.envelope import encode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import build_v2
from celeriac.transport.base import Channel, DeadLetter
from celeriac.worker.worker import Worker, WorkerOptions

TASK = "poison.record"
#: Deeper than any JSON parser here recurses (orjson stops at 1024, the stdlib near 1000).
DEEP = 50_000


def deep_json(depth: int = DEEP) -> str:
    """``{"a": {"a": ... 1 ...}}``, ``depth`` objects deep, as text (building it is cheap)."""
    return '{"a": ' * depth + "1" + "}" * depth


@dataclass
class PoisonWorker:
    """A threads-pool worker running in this process; ``ran`` counts each token it ran."""

    app: Celery
    worker: Worker
    thread: threading.Thread
    ran: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    channel: Channel | None = None

    def publish_good(self, count: int, args: list[Any] | None = None) -> list[str]:
        """``count`` good calls through celeriac's publisher; their tokens."""
        tokens = [uuid.uuid4().hex for _ in range(count)]
        task = self.app.tasks[TASK]
        for i, token in enumerate(tokens):
            extra = args[i] if args is not None and i < len(args) else None
            task.delay(token, extra)
        return tokens

    def dead_letters(self) -> list[DeadLetter]:
        if self.channel is None:
            self.channel = self.app.transport.channel()
        return self.channel.dead_letters(100_000)

    def settled(self, tokens: list[str], dead: int) -> bool:
        with self.lock:
            done = all(self.ran[token] for token in tokens)
        return done and len(self.dead_letters()) >= dead

    def alive(self) -> bool:
        return self.thread.is_alive() and self.worker.channel is not None


def make_app(broker: str, main: str = "poison") -> tuple[Celery, Counter[str], threading.Lock]:
    app = Celery(main, broker=broker)
    app.conf.celeriac_lease_timeout = 2.0
    app.conf.celeriac_lease_heartbeat = 0.25
    ran: Counter[str] = Counter()
    lock = threading.Lock()

    @app.task(name=TASK)
    def record(token: str, extra: Any = None) -> None:
        with lock:
            ran[token] += 1

    return app, ran, lock


@contextmanager
def poison_worker(broker: str, concurrency: int = 4,
                  before: Callable[[Celery], object] | None = None) -> Iterator[PoisonWorker]:
    """A started in-process worker on ``broker``; stopped (warm) and joined on exit.

    ``before(app)`` runs before the worker starts: messages it publishes share its first
    fetched batch.
    """
    app, ran, lock = make_app(broker)
    if before is not None:
        before(app)
    worker = Worker(app, WorkerOptions(pool="threads", concurrency=concurrency))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False},
                              name="poison-worker", daemon=True)
    running = PoisonWorker(app, worker, thread, ran, lock)
    thread.start()
    try:
        yield running
    finally:
        worker.stop()
        thread.join(30)
        if running.channel is not None:
            running.channel.close()
        app.close()


def good_message(token: str, queue: str = "celery") -> TaskMessage:
    """A well-formed call of ``TASK``, to derive bad variants from."""
    message = build_v2(task_name=TASK, task_id=str(uuid.uuid4()), args=(token, None), kwargs={},
                       origin="poison@test")
    message.properties.setdefault("delivery_info", {"exchange": "", "routing_key": queue})
    return message


# -- Redis: raw envelopes ---------------------------------------------------------------------
def envelope_text(headers: str, body: bytes = b"[[], {}, {}]", queue: str = "celery") -> bytes:
    """An envelope whose ``headers`` member is the given JSON text, laid out as kombu writes
    it (properties last), so the fetch script records it like any other."""
    return (
        '{"body": "' + base64.b64encode(body).decode() + '", "content-encoding": "utf-8", '
        '"content-type": "application/json", "headers": ' + headers + ', "properties": '
        '{"correlation_id": "x", "delivery_mode": 2, "priority": 0, "body_encoding": "base64", '
        '"delivery_info": {"exchange": "", "routing_key": "' + queue + '"}, '
        '"delivery_tag": "' + uuid.uuid4().hex + '"}}'
    ).encode()


def redis_envelope(message: TaskMessage, queue: str = "celery") -> bytes:
    return encode_envelope(message, exchange="", routing_key=queue)


# -- SQLite: raw rows -------------------------------------------------------------------------
_INSERT = (
    "INSERT INTO messages (queue, exchange, priority, not_before, redelivered, headers,"
    " properties, content_type, content_encoding, body, published_at)"
    " VALUES (?, '', 0, NULL, 0, ?, ?, ?, ?, ?, ?)"
)


def insert_rows(path: str, rows: list[tuple[str, str, str, bytes]], queue: str = "celery") -> None:
    """Raw ``(headers, properties, content_type, body)`` rows, committed in one transaction."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.executemany(_INSERT, [(queue, h, p, ct, "utf-8", b, time.time())
                                       for h, p, ct, b in rows])
    finally:
        conn.close()


def row_of(message: TaskMessage) -> tuple[str, str, str, bytes]:
    return (json.dumps(message.headers), json.dumps(message.properties), message.content_type,
            message.body)


# -- RabbitMQ: raw content headers --------------------------------------------------------------
def deep_table(depth: int = DEEP) -> bytes:
    """An AMQP field table ``{"a": {"a": ... {} ...}}``, ``depth`` tables deep, built from the
    inside out (py-amqp's own encoder recurses, so it cannot write this). 7 bytes a level:
    keep ``depth`` under 18,000 so the header fits RabbitMQ's 128 KiB frame."""
    table = b""
    for _ in range(depth):
        table = b"\x01aF" + struct.pack(">I", len(table)) + table
    return table


class RawHeadersMessage(amqp.Message):  # type: ignore[misc]
    """An ``amqp.Message`` whose properties are only ``application_headers``, given as raw
    field-table bytes and written as they are."""

    def __init__(self, body: bytes, table: bytes) -> None:
        super().__init__(body)
        self.raw_table = table

    def _serialize_properties(self) -> bytes:
        return struct.pack(">HI", 1 << 13, len(self.raw_table)) + self.raw_table


@contextmanager
def raw_amqp(vhost: str) -> Iterator[Any]:
    """A plain py-amqp channel on ``vhost`` (a producer that celeriac did not write)."""
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest",
                                 virtual_host=vhost)
    connection.connect()
    try:
        yield connection.channel()
    finally:
        connection.close()
