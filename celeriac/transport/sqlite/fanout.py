"""Broadcast on the SQLite broker: rows in a ``broadcasts`` table, read by cursor.

A broadcast is one row; every subscription remembers the highest row id it has seen (its
cursor, taken at ``subscribe`` so it sees only what comes after, as kombu's fanout does) and
reads newer rows of its exchange. Rows are pruned ``fanout_ttl`` seconds after they were
written (``broker_transport_options``, default 60 s): remote-control commands expire sooner
than that and a subscriber that was away longer has, by kombu's semantics, missed them.

``AUTOINCREMENT`` keeps ids increasing after a prune, so a cursor can never skip a new row.
The table is created on first use, outside the numbered migrations, because a file written by
an older celeriac gains it without a schema bump.

Waiting is the same as for a fetch: the in-process ``Notifier`` wakes a subscriber in the same
process at once; other processes are seen through ``PRAGMA data_version`` with a backoff up to
``polling_interval``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from celeriac.clients.sqlite import Notifier, SqliteHandle
from celeriac.config.transport_keys import SqliteTransportOptions
from celeriac.protocol.message import TaskMessage

logger = logging.getLogger(__name__)

_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS broadcasts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        headers TEXT NOT NULL,
        properties TEXT NOT NULL,
        content_type TEXT NOT NULL,
        content_encoding TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS broadcasts_exchange ON broadcasts (exchange, id)",
    "CREATE INDEX IF NOT EXISTS broadcasts_age ON broadcasts (created_at)",
)
_INSERT: Final = (
    "INSERT INTO broadcasts (exchange, routing_key, headers, properties, content_type,"
    " content_encoding, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SINCE: Final = (
    "SELECT id, routing_key, headers, properties, content_type, content_encoding, body"
    " FROM broadcasts WHERE exchange = ? AND id > ? ORDER BY id LIMIT 1000"
)
_FIRST_POLL: Final = 0.005
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on ``.``, ``*`` is one word, ``#`` zero or more."""
    if pattern in ("#", routing_key):
        return True
    return _match(pattern.split("."), routing_key.split(".") if routing_key else [])


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


class SqliteFanout:
    """The broadcast side of one ``SqliteChannel`` (same handle, same notifier)."""

    def __init__(self, handle: SqliteHandle, notifier: Callable[[], Notifier],
                 options: SqliteTransportOptions | None = None) -> None:
        options = options or SqliteTransportOptions()
        self.handle = handle
        self.notifier = notifier
        self.ttl = options.fanout_ttl
        self.poll_max = options.polling_interval
        self._ready = False
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock, self.handle.connection() as conn:
            for statement in _DDL:
                conn.execute(statement)
            self._ready = True

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        self._ensure()
        now = time.time()
        row = (exchange, routing_key, _dumps(message.headers), _dumps(message.properties),
               message.content_type, message.content_encoding, message.body, now)
        with self.handle.transaction() as conn:
            conn.execute(_INSERT, row)
            if now >= self._next_prune:
                conn.execute("DELETE FROM broadcasts WHERE created_at < ?", (now - self.ttl,))
                self._next_prune = now + min(self.ttl / 4, 15.0)
        self.notifier().notify()

    def subscribe(self, exchange: str, pattern: str = "#") -> SqliteSubscription:
        self._ensure()
        with self.handle.connection() as conn:
            cursor = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM broadcasts")
                         .fetchone()[0])
        return SqliteSubscription(self, exchange, pattern, cursor)


class SqliteSubscription:
    """Reads the rows of one exchange written after it began; see the module docstring."""

    def __init__(self, fanout: SqliteFanout, exchange: str, pattern: str, cursor: int) -> None:
        self.fanout = fanout
        self.exchange = exchange
        self.pattern = pattern
        self.cursor = cursor
        self.closed = False

    def _read(self) -> list[TaskMessage]:
        with self.fanout.handle.connection() as conn:
            rows = conn.execute(_SINCE, (self.exchange, self.cursor)).fetchall()
        messages = []
        for ident, routing_key, headers, properties, ctype, cenc, body in rows:
            self.cursor = max(self.cursor, int(ident))
            if not topic_matches(self.pattern, routing_key):
                continue
            try:
                parsed = json.loads(headers), json.loads(properties)
            except (TypeError, ValueError, RecursionError) as exc:
                parsed = (exc, None)
            if not isinstance(parsed[0], dict) or not isinstance(parsed[1], dict):
                logger.warning("Ignoring an unreadable broadcast %s on %s: %r", ident,
                               self.exchange, parsed[0])
                continue
            messages.append(TaskMessage(headers=parsed[0], properties=parsed[1],
                                        body=bytes(body), content_type=ctype,
                                        content_encoding=cenc,
                                        extra={"routing_key": routing_key}))
        return messages

    def get(self, timeout: float) -> list[TaskMessage]:
        deadline = time.monotonic() + max(timeout, 0.0)
        notifier = self.fanout.notifier()
        handle = self.fanout.handle
        delay = _FIRST_POLL
        while not self.closed:
            seq = notifier.seq
            version = handle.data_version()
            messages = self._read()
            if messages:
                return messages
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return []
                current_seq = notifier.wait(seq, min(delay, remaining))
                delay = min(delay * 2, self.fanout.poll_max)
                if current_seq != seq or handle.data_version() != version:
                    break
        return []

    def close(self) -> None:
        self.closed = True


__all__ = ["SqliteFanout", "SqliteSubscription", "topic_matches"]
