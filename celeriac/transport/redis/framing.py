"""Turning outbound messages into Redis commands, and leased messages back into envelopes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from celeriac.exceptions import InvalidMessage
from celeriac.protocol.envelope import decode_envelope, encode_envelope, envelope_priority
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Delivery, Outbound
from celeriac.transport.redis.keys import BAD_FIELD_PREFIX, KeyLayout, as_bytes, as_text

_DUPLICATE = "duplicate delivery_tag (another message with it is in flight)"
_NO_TAG = "envelope lacks a string delivery_tag or delivery_info exchange/routing_key"

#: ("lpush", key, [payload, ...]) or ("zadd", key, {member: score})
Command = tuple[str, str, Any]


def publish_commands(
    layout: KeyLayout,
    batch: Sequence[Outbound],
    route: Callable[[Outbound], Iterable[str]],
    now: float,
    delay_on_publish: bool = False,
) -> tuple[list[Command], list[str]]:
    """The commands that publish ``batch`` and the queues it touches, in first-seen order.

    Consecutive messages for the same bucket share one variadic LPUSH (FIFO is kept: LPUSH
    pushes its values left to right). With ``delay_on_publish``, messages due later go
    straight to the queue's delayed zset; by default they are LPUSHed like any other, as
    kombu does, so a Celery worker sharing the queue runs them too (a celeriac worker that
    takes one moves it to the delayed zset until it is due).
    """
    commands: list[Command] = []
    queues: dict[str, None] = {}
    for out in batch:
        priority = envelope_priority(out.message.properties)
        for queue in route(out):  # encoded per copy: each its own delivery_tag (the lease key)
            payload = encode_envelope(out.message, exchange=out.exchange,
                                      routing_key=out.routing_key)
            queues[queue] = None
            if delay_on_publish and out.not_before is not None and out.not_before > now:
                member = layout.delayed_member(payload, queue, priority)
                commands.append(("zadd", layout.delayed(queue), {member: out.not_before}))
                continue
            key = layout.bucket(queue, priority)
            last = commands[-1] if commands else None
            if last is not None and last[0] == "lpush" and last[1] == key:
                last[2].append(payload)
            else:
                commands.append(("lpush", key, [payload]))
    return commands, list(queues)


def reencode(message: TaskMessage, tag: str, *, redelivered: bool) -> bytes:
    """The envelope of a leased message, keeping its tag; ``redelivered`` marks it as kombu does."""
    info = message.properties.get("delivery_info")
    info = info if isinstance(info, dict) else {}
    if redelivered:
        headers = {**message.headers, "redelivered": True}
        properties = {**message.properties, "delivery_info": {**info, "redelivered": True}}
        message = dataclasses.replace(message, headers=headers, properties=properties)
    return encode_envelope(
        message,
        exchange=str(info.get("exchange", "")),
        routing_key=str(info.get("routing_key", "")),
        delivery_tag=tag,
    )


def decode_leased(
    out: Sequence[bytes | str], tags: Sequence[str]
) -> tuple[list[Delivery], list[tuple[str, bytes, str, str]]]:
    """The fetch script's ``[item, tag, queue, ...]`` as deliveries, and what must be set
    aside as ``(tag, raw, queue, reason)`` (undecodable, duplicate or tagless envelopes)."""
    deliveries: list[Delivery] = []
    bad: list[tuple[str, bytes, str, str]] = []
    for n, tag in enumerate(tags):
        raw, queue = as_bytes(out[3 * n]), as_text(out[3 * n + 2])
        try:
            message = decode_envelope(raw)
        except InvalidMessage as exc:
            bad.append((tag, raw, queue, str(exc)))
            continue
        except Exception as exc:  # whatever one envelope does, the rest of the batch runs
            bad.append((tag, raw, queue, f"envelope could not be read: {exc!r}"))
            continue
        if tag.startswith(BAD_FIELD_PREFIX):
            reason = _DUPLICATE if tag.startswith(BAD_FIELD_PREFIX + "dup:") else _NO_TAG
            bad.append((tag, raw, queue, reason))
            continue
        info = message.properties.get("delivery_info")
        redelivered = bool(
            message.headers.get("redelivered")
            or (isinstance(info, dict) and info.get("redelivered"))
        )
        deliveries.append(Delivery(message, queue, tag, redelivered))
    return deliveries, bad


def unacked_item(entry: bytes) -> bytes:
    """The envelope inside an ``unacked`` entry, without parsing it.

    The fetch script writes ``'[' .. envelope .. ', ' .. cjson(exchange) .. ', ' ..
    cjson(routing_key) .. ']'``; inside a JSON string every ``"`` is escaped, so the last two
    ``, "`` are the separators. For envelopes JSON cannot rewrite (nested too deeply), whose
    original bytes then go to the dead-letter list as they came.
    """
    return entry[1:].rsplit(b', "', 2)[0]


__all__ = ["Command", "decode_leased", "publish_commands", "reencode", "unacked_item"]
