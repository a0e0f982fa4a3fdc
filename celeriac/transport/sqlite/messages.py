"""Rows of the ``messages`` table to and from ``TaskMessage``, and the lease statement.

Priority uses AMQP's meaning, *higher number first* (0..255, default 0). Celery documents
``priority`` with RabbitMQ's semantics and SQLite messages are read by celeriac only, so
there is no kombu layout to mirror; Redis's inverted buckets (wire-protocol.md §2.3) are a
quirk of that transport and are not copied here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any, Final

from celeriac.exceptions import EncodeError, InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Delivery, Outbound

MAX_PRIORITY: Final = 255

_dumps = json.JSONEncoder(separators=(",", ":")).encode

INSERT: Final = (
    "INSERT INTO messages (queue, exchange, priority, not_before, redelivered, headers,"
    " properties, content_type, content_encoding, body, published_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

PROMOTE: Final = (
    "UPDATE messages SET not_before = NULL"
    " WHERE queue = ? AND not_before IS NOT NULL AND not_before <= ?"
)

_READY_IDS: Final = (
    "SELECT id, priority FROM messages WHERE queue = ? AND lease_owner IS NULL"
    " AND not_before IS NULL ORDER BY priority DESC, id LIMIT ?"
)

_RETURNING: Final = (
    " RETURNING id, queue, redelivered, priority, headers, properties, content_type,"
    " content_encoding, body"
)

DUE_PROBE: Final = (
    "SELECT 1 FROM messages WHERE queue = ? AND lease_owner IS NULL AND not_before IS NULL LIMIT 1"
)

NEXT_DUE: Final = "SELECT MIN(not_before) FROM messages WHERE queue = ? AND not_before IS NOT NULL"


def priority_of(properties: dict[str, Any]) -> int:
    """``properties.priority`` as an int in 0..255; anything unreadable counts as 0."""
    try:
        value = int(properties.get("priority") or 0)
    except (TypeError, ValueError):
        return 0
    return max(0, min(MAX_PRIORITY, value))


def row_for(outbound: Outbound, now: float, *, redelivered: bool = False) -> tuple[Any, ...]:
    """The ``INSERT`` parameters of ``outbound``; a ``not_before`` already past means ready now."""
    message = outbound.message
    not_before = outbound.not_before
    if not_before is not None and not_before <= now:
        not_before = None
    try:
        headers = _dumps(message.headers)
        properties = _dumps(message.properties)
    except (TypeError, ValueError) as exc:
        raise EncodeError(
            f"Message {message.task_id!r} has headers or properties that are not JSON: {exc}"
        ) from exc
    return (
        outbound.routing_key,
        outbound.exchange,
        priority_of(message.properties),
        not_before,
        int(redelivered),
        headers,
        properties,
        message.content_type,
        message.content_encoding,
        message.body,
        now,
    )


def lease_statement(queues: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """One ``UPDATE … RETURNING`` leasing the best ``limit`` ready rows across ``queues``.

    Each queue contributes its own top ``limit`` through the ``messages_ready`` index, and the
    union is cut to ``limit`` again, so the statement never sorts more than
    ``limit * len(queues)`` rows. Parameters 1 and 2 are the owner and the lease time.
    """
    params: list[Any] = []
    if len(queues) == 1:
        inner = _READY_IDS
        params.extend((queues[0], limit))
        select = f"SELECT id FROM ({inner})"
    else:
        arms = []
        for queue in queues:
            arms.append(f"SELECT * FROM ({_READY_IDS})")
            params.extend((queue, limit))
        select = f"SELECT id FROM ({' UNION ALL '.join(arms)}) ORDER BY priority DESC, id LIMIT ?"
        params.append(limit)
    sql = (
        "UPDATE messages SET lease_owner = ?, leased_at = ? WHERE id IN ("
        + select
        + ")"
        + _RETURNING
    )
    return sql, params


def delivery_of(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
    """The ``Delivery`` of a ``RETURNING`` row; the tag is the row id.

    Raises:
        InvalidMessage: headers or properties are not a JSON object (or nest too deeply).
    """
    ident, queue, redelivered, _prio, headers, properties, ctype, cenc, body = row
    try:
        headers, properties = json.loads(headers), json.loads(properties)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"headers or properties are not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidMessage("headers or properties are nested too deeply to decode") from exc
    if not isinstance(headers, dict) or not isinstance(properties, dict):
        kinds = f"{type(headers).__name__} and {type(properties).__name__}"
        raise InvalidMessage(f"headers and properties must be JSON objects, got {kinds}")
    message = TaskMessage(
        headers=headers,
        properties=properties,
        body=bytes(body),
        content_type=ctype,
        content_encoding=cenc,
    )
    return Delivery(message=message, queue=queue, tag=str(ident), redelivered=bool(redelivered))


def deliveries_of(
    rows: Sequence[tuple[Any, ...]],
) -> tuple[list[Delivery], list[tuple[tuple[Any, ...], str]]]:
    """Decode leased rows one by one: the deliveries, and each row that failed with why.

    A row that does not decode must not take the rest of its batch with it: its lease is
    already committed, so the caller sets it aside with the reason.
    """
    deliveries: list[Delivery] = []
    bad: list[tuple[tuple[Any, ...], str]] = []
    for row in rows:
        try:
            deliveries.append(delivery_of(row))
        except InvalidMessage as exc:
            bad.append((row, str(exc)))
        except Exception as exc:
            bad.append((row, f"message could not be read: {exc!r}"))
    return deliveries, bad


def sort_key(row: tuple[Any, ...]) -> tuple[int, int]:
    """``RETURNING`` order is unspecified: restore priority-then-FIFO order."""
    return (-int(row[3]), int(row[0]))


def tags_json(deliveries: Sequence[Delivery]) -> str:
    """The deliveries' row ids as one JSON array, bound to ``json_each`` as a single parameter."""
    return _dumps([int(d.tag) for d in deliveries])


def now() -> float:
    return time.time()


__all__ = [
    "DUE_PROBE",
    "INSERT",
    "MAX_PRIORITY",
    "NEXT_DUE",
    "PROMOTE",
    "deliveries_of",
    "delivery_of",
    "lease_statement",
    "priority_of",
    "row_for",
    "sort_key",
    "tags_json",
]
