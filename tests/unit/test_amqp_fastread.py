"""The fast AMQP property and table decoder gives exactly what py-amqp's own decoder gives.

Pure: messages are serialized by py-amqp (as RabbitMQ relays them, byte for byte) and decoded
both ways; no sockets.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from struct import pack
from typing import Any

import amqp  # type: ignore[import-untyped]
import pytest
from amqp.serialization import decode_properties_basic, loads  # type: ignore[import-untyped]

from celeriac.transport.amqp.fastread import decode_properties, table

CELERY_HEADERS: dict[str, Any] = {
    "lang": "py", "task": "proj.add", "id": "3a5d0cb0", "shadow": None, "eta": None,
    "expires": None, "group": None, "group_index": None, "retries": 0,
    "timelimit": [None, None], "root_id": "3a5d0cb0", "parent_id": None,
    "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen1@host", "ignore_result": False,
    "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
}  # fmt: skip


def _encoded(**properties: Any) -> bytes:
    message = amqp.Message(b"body", **properties)
    return bytes(message._serialize_properties())


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"content_type": "application/json", "content_encoding": "utf-8",
         "application_headers": CELERY_HEADERS, "delivery_mode": 2, "priority": 7,
         "correlation_id": "3a5d0cb0", "reply_to": "cf68871b"},
        {"application_headers": {"big": 2**40, "neg": -5, "f": 1.5, "nested": {"a": [1, "x", None]},
                                 "when": datetime(2026, 1, 2, 3, 4, 5), "dec": Decimal("1.25"),
                                 "yes": True, "bytes": b"\xff\xfe"},
         "expiration": "5000", "message_id": "m1", "timestamp": 1700000000, "type": "t",
         "user_id": "guest", "app_id": "app", "cluster_id": "c"},
    ],
)  # fmt: skip
def test_properties_decode_like_py_amqp(properties: dict[str, Any]) -> None:
    raw = _encoded(**properties)
    ours, ours_end = decode_properties(memoryview(raw), 0)
    theirs, theirs_end = decode_properties_basic(raw, 0)
    assert ours == theirs and ours_end == theirs_end


def test_rabbitmq_only_field_types() -> None:
    """Types py-amqp reads but never writes (RabbitMQ's s/l, unsigned, bytes)."""
    fields = [
        (b"s", b"s" + pack(">h", -2)), (b"l", b"l" + pack(">q", -1000)),
        (b"b", b"b" + pack(">b", -1)), (b"B", b"B" + pack(">B", 200)),
        (b"u", b"u" + pack(">H", 65000)), (b"i", b"i" + pack(">I", 4_000_000_000)),
        (b"x", b"x" + pack(">I", 3) + b"abc"), (b"f", b"f" + pack(">f", 0.5)),
    ]  # fmt: skip
    body = b"".join(pack(">B", len(key)) + key + value for key, value in fields)
    raw = pack(">I", len(body)) + body
    (theirs,), _ = loads("F", raw, 0)
    assert table(memoryview(raw), 4, 4 + len(body)) == theirs
