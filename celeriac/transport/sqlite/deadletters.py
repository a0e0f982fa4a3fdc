"""The ``dead_letters`` table: messages set aside, kept whole so they can be read and requeued.

Each row's ``payload`` is the message as a kombu JSON envelope (``protocol/envelope.py``), the
same bytes a Redis queue would hold, so one inspection tool reads both.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from base64 import b64encode
from collections.abc import Sequence
from typing import Any, Final

from celeriac.exceptions import InvalidMessage
from celeriac.protocol.envelope import decode_envelope, encode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import DeadLetter, Delivery, Outbound
from celeriac.transport.set_aside import log_set_aside
from celeriac.transport.sqlite.messages import INSERT, row_for

logger = logging.getLogger(__name__)

#: Properties the envelope adds; stripped again when a dead letter goes back to its queue.
_ENVELOPE_ONLY: Final = frozenset({"body_encoding", "delivery_tag", "delivery_info"})

_INSERT_DEAD: Final = (
    "INSERT INTO dead_letters (queue, reason, set_aside_at, payload) VALUES (?, ?, ?, ?)"
)


def envelope_of(delivery: Delivery) -> bytes:
    """The kombu envelope of ``delivery``'s message, addressed to its queue."""
    return encode_envelope(delivery.message, exchange="", routing_key=delivery.queue)


def message_of(payload: bytes) -> TaskMessage:
    """The ``TaskMessage`` a dead letter holds, without the envelope-only properties."""
    message = decode_envelope(payload, strict=False)
    properties = {k: v for k, v in message.properties.items() if k not in _ENVELOPE_ONLY}
    return TaskMessage(
        headers=message.headers,
        properties=properties,
        body=message.body,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
    )


def set_aside(
    conn: sqlite3.Connection, deliveries: Sequence[Delivery], reason: str, now: float
) -> int:
    """Copy ``deliveries`` to ``dead_letters`` and delete them from ``messages``."""
    rows = [(d.queue, reason, now, _payload(conn, d)) for d in deliveries]
    conn.executemany(_INSERT_DEAD, rows)
    ids = [(int(d.tag),) for d in deliveries]
    conn.executemany("DELETE FROM messages WHERE id = ?", ids)
    for delivery in deliveries:
        log_set_aside(delivery, reason)
    return len(rows)


def _payload(conn: sqlite3.Connection, delivery: Delivery) -> bytes:
    """The envelope of ``delivery``; its row's columns as stored when JSON cannot rewrite it
    (headers nested deeper than the encoder recurses)."""
    try:
        return envelope_of(delivery)
    except (RecursionError, TypeError, ValueError):
        row = conn.execute(
            "SELECT headers, properties, content_type, content_encoding, body FROM messages"
            " WHERE id = ?",
            (int(delivery.tag),),
        ).fetchone()
        if row is None:
            raise
        return raw_payload(*row)


def raw_payload(headers: Any, properties: Any, ctype: Any, cenc: Any, body: Any) -> bytes:
    """A dead letter for a row that does not decode: its columns as stored, nothing parsed.

    ``headers`` is null, so ``requeue`` leaves it where it is (logged); the stored text is
    kept under ``raw_headers``/``raw_properties`` for whoever repairs it by hand.
    """
    record = {
        "body": b64encode(bytes(body or b"")).decode("ascii"),
        "content-encoding": str(cenc),
        "content-type": str(ctype),
        "headers": None,
        "properties": {"body_encoding": "base64"},
        "raw_headers": _text(headers),
        "raw_properties": _text(properties),
    }
    return json.dumps(record).encode("ascii")


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def set_aside_rows(
    conn: sqlite3.Connection, bad: Sequence[tuple[tuple[Any, ...], str]], now: float
) -> int:
    """Dead-letter leased ``messages`` rows that did not decode, each with its reason."""
    for row, reason in bad:
        ident, queue, _redelivered, _prio, headers, properties, ctype, cenc, body = row
        payload = raw_payload(headers, properties, ctype, cenc, body)
        conn.execute(_INSERT_DEAD, (queue, reason, now, payload))
        conn.execute("DELETE FROM messages WHERE id = ?", (ident,))
        logger.error("Message %s from queue %r set aside: %s", ident, queue, reason)
    return len(bad)


def list_dead(conn: sqlite3.Connection, limit: int) -> list[DeadLetter]:
    cursor = conn.execute(
        "SELECT id, queue, reason, set_aside_at, payload FROM dead_letters ORDER BY id LIMIT ?",
        (limit,),
    )
    return [
        DeadLetter(id=str(i), queue=q, reason=r, set_aside_at=t, payload=bytes(p))
        for i, q, r, t, p in cursor.fetchall()
    ]


def requeue_dead(conn: sqlite3.Connection, ids: Sequence[str] | None, now: float) -> int:
    """Move dead letters (all when ``ids`` is None) back to their queues, marked redelivered.

    A payload that no longer decodes stays where it is, with an ERROR log naming why.
    """
    select = "SELECT id, queue, payload FROM dead_letters"
    params: tuple[Any, ...] = ()
    if ids is not None:
        select += " WHERE id IN (SELECT value FROM json_each(?))"
        params = ("[" + ",".join(str(int(i)) for i in ids) + "]",)
    moved: list[tuple[int]] = []
    rows: list[tuple[Any, ...]] = []
    for ident, queue, payload in conn.execute(select + " ORDER BY id", params).fetchall():
        try:
            message = message_of(bytes(payload))
        except InvalidMessage as exc:
            logger.error("Dead letter %s cannot be requeued: %s", ident, exc)
            continue
        rows.append(row_for(Outbound(message, routing_key=queue), now, redelivered=True))
        moved.append((ident,))
    conn.executemany(INSERT, rows)
    conn.executemany("DELETE FROM dead_letters WHERE id = ?", moved)
    return len(moved)


__all__ = [
    "envelope_of",
    "list_dead",
    "message_of",
    "raw_payload",
    "requeue_dead",
    "set_aside",
    "set_aside_rows",
]
