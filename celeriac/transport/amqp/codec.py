"""``TaskMessage`` to AMQP basic properties and back (wire-protocol.md §1.1, §1.3, §3.2).

On RabbitMQ a task message is real AMQP: the Celery headers are the ``application_headers``
field table (``None`` travels as void ``V``, pitfall §7.10), ``content_type`` and
``content_encoding`` are properties, and the body is the raw serialized bytes (no base64).
Celery 5.7 sends ``delivery_mode=2``, ``priority``, ``correlation_id=<task id>``,
``reply_to=<oid>`` and ``expiration`` (ms, only with ``expires``), which is what ``to_amqp``
writes. Envelope-only keys of the Redis framing (``delivery_info``, ``delivery_tag``,
``body_encoding``) are not AMQP properties and are dropped.

RabbitMQ's own dead-lettering stamps ``x-death`` and ``x-first-death-*`` headers onto a
message that went through a delay queue (see ``topology.py``); they describe our plumbing, not
the task, and hold AMQP timestamps that JSON cannot carry, so ``from_amqp`` removes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import amqp  # type: ignore[import-untyped]

from celeriac.protocol.message import TaskMessage

#: Properties that travel as AMQP basic properties (besides the content ones and headers).
_AMQP_PROPERTIES: Final = (
    "correlation_id",
    "reply_to",
    "delivery_mode",
    "priority",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
)
_KEPT_PROPERTIES: Final = frozenset(_AMQP_PROPERTIES)
_DEATH_PREFIXES: Final = ("x-death", "x-first-death-", "x-last-death-")
#: What RabbitMQ stamps on a dead-lettered message (it always sets ``x-death``).
_DEATH_HEADERS: Final = frozenset({
    "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
    "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
})
PERSISTENT: Final = 2


def amqp_properties(
    message: TaskMessage, extra_headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The basic properties for ``message``; ``extra_headers`` are merged into the headers."""
    props = message.properties
    out: dict[str, Any] = {
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "application_headers": (
            {**message.headers, **extra_headers} if extra_headers else message.headers
        ),
        "delivery_mode": PERSISTENT,
    }
    for key in _AMQP_PROPERTIES:
        value = props.get(key)
        if value is not None:
            out[key] = value
    if "priority" in out:
        out["priority"] = clamp_priority(out["priority"])
    if "expiration" in out:
        out["expiration"] = str(out["expiration"])
    return out


def clamp_priority(value: Any) -> int:
    """AMQP priority is an octet; anything unreadable is 0 (higher means sooner on AMQP)."""
    try:
        return max(0, min(255, int(value)))
    except (TypeError, ValueError):
        return 0


def to_amqp(message: TaskMessage, extra_headers: Mapping[str, Any] | None = None) -> Any:
    """An ``amqp.Message`` ready for ``basic_publish``."""
    return amqp.Message(message.body, **amqp_properties(message, extra_headers))


def clean_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The message's headers without RabbitMQ's dead-lettering stamps."""
    if not headers:
        return {}
    if _DEATH_HEADERS.isdisjoint(headers):  # the common case, at C speed
        return dict(headers)
    return {k: v for k, v in headers.items() if not k.startswith(_DEATH_PREFIXES)}


def from_amqp(msg: Any, strip: tuple[str, ...] = ()) -> TaskMessage:
    """The ``TaskMessage`` of a delivered ``amqp.Message``; ``strip`` drops more headers."""
    props: dict[str, Any] = msg.properties
    headers = clean_headers(props.get("application_headers"))
    for key in strip:
        headers.pop(key, None)
    info = msg.delivery_info or {}
    # A delivery carries a handful of properties: walk those, not the ten we might keep.
    properties = {key: value for key, value in props.items() if key in _KEPT_PROPERTIES}
    properties["delivery_info"] = {
        "exchange": info.get("exchange", ""),
        "routing_key": info.get("routing_key", ""),
    }
    body = msg.body
    if not isinstance(body, bytes):
        body = bytes(body) if isinstance(body, bytearray | memoryview) else str(body).encode()
    return TaskMessage(
        headers=headers,
        properties=properties,
        body=body,
        content_type=str(props.get("content_type") or "application/json"),
        content_encoding=str(props.get("content_encoding") or "utf-8"),
    )


__all__ = [
    "PERSISTENT",
    "amqp_properties",
    "clamp_priority",
    "clean_headers",
    "from_amqp",
    "to_amqp",
]
