"""Reading, requeueing and purging the ``celeriac.deadletter`` queue (see ``topology.py``).

Listing uses ``basic.get`` without ack and then rejects with requeue, so looking does not
consume. Requeueing re-publishes each chosen message to its original queue (confirmed) before
acking its dead-letter copy, so a crash in between leaves a duplicate, never a loss.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

from celeriac.clients.amqp_frames import UNREADABLE_HEADER
from celeriac.protocol.envelope import encode_envelope
from celeriac.protocol.message import TaskMessage
from celeriac.transport.amqp.codec import from_amqp, to_amqp
from celeriac.transport.amqp.publisher import Publisher
from celeriac.transport.amqp.topology import (
    DEAD_HEADERS,
    DEAD_ID_HEADER,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    QUEUE_HEADER,
    REASON_HEADER,
    SET_ASIDE_AT_HEADER,
    Declared,
    Topology,
)
from celeriac.transport.base import DeadLetter

#: basic.get calls per requeue pass; a dead-letter queue larger than this takes more calls.
_PASS: Final = 500


def dead_copy(message: TaskMessage, queue: str, reason: str, now: float) -> Any:
    """The ``amqp.Message`` that records ``message`` as set aside from ``queue``."""
    headers = {
        REASON_HEADER: reason,
        QUEUE_HEADER: queue,
        SET_ASIDE_AT_HEADER: now,
        DEAD_ID_HEADER: uuid.uuid4().hex,
    }
    copy = to_amqp(message, headers)
    try:
        copy._serialize_properties()  # what basic_publish will do, so it cannot fail there
    except RecursionError:
        # py-amqp decodes tables about twice as deep as it can encode: keep the flat headers.
        flat: dict[str, Any] = {
            key: value for key, value in message.headers.items()
            if value is None or isinstance(value, str | int | float | bool)
        }
        flat[UNREADABLE_HEADER] = "headers nested too deeply to copy; nested ones dropped"
        copy = to_amqp(dataclasses.replace(message, headers=flat), headers)
    return copy


def _dead_letter(raw: Any) -> DeadLetter:
    headers = raw.properties.get("application_headers") or {}
    queue = str(headers.get(QUEUE_HEADER) or "")
    message = from_amqp(raw, strip=DEAD_HEADERS)
    return DeadLetter(
        id=str(headers.get(DEAD_ID_HEADER) or raw.delivery_info["delivery_tag"]),
        queue=queue,
        reason=str(headers.get(REASON_HEADER) or ""),
        set_aside_at=float(headers.get(SET_ASIDE_AT_HEADER) or 0.0),
        payload=encode_envelope(message, exchange="", routing_key=queue),
    )


def _get_all(channel: Any, limit: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < limit:
        raw = channel.basic_get(DEAD_LETTER_QUEUE, no_ack=False)
        if raw is None:
            break
        got.append(raw)
    return got


def _release(channel: Any, raws: Sequence[Any]) -> None:
    for raw in raws:
        channel.basic_reject(raw.delivery_info["delivery_tag"], requeue=True)


def list_dead(publisher: Publisher, topology: Topology, limit: int) -> list[DeadLetter]:
    def run(channel: Any, declared: Declared) -> list[DeadLetter]:
        topology.declare_dead_letters(channel, declared)
        raws = _get_all(channel, limit)
        try:
            return [_dead_letter(raw) for raw in raws]
        finally:
            _release(channel, raws)

    return publisher.run(run, "list dead letters")


def requeue_dead(
    publisher: Publisher,
    topology: Topology,
    ids: Sequence[str] | None,
    prepare: Callable[[Any, Declared, str], None],
) -> int:
    """Move chosen dead letters (all when ``ids`` is None) back to their queues.

    Every dead letter is taken (unacked) once; the chosen are re-published with confirms,
    ``_PASS`` at a time, and only then acked; the others are released at the end.
    """
    wanted = None if ids is None else set(ids)

    def run(channel: Any, declared: Declared) -> int:
        topology.declare_dead_letters(channel, declared)
        kept: list[Any] = []
        moved = 0
        try:
            while True:
                raws = _get_all(channel, _PASS)
                chosen = []
                for raw in raws:
                    dead = _dead_letter(raw)
                    if dead.queue and (wanted is None or dead.id in wanted):
                        chosen.append((raw, dead.queue))
                    else:
                        kept.append(raw)
                moved += _move(publisher, channel, declared, chosen, prepare)
                if len(raws) < _PASS:
                    return moved
        finally:
            _release(channel, kept)

    return publisher.run(run, "requeue dead letters")


def _move(
    publisher: Publisher,
    channel: Any,
    declared: Declared,
    chosen: Sequence[tuple[Any, str]],
    prepare: Callable[[Any, Declared, str], None],
) -> int:
    if not chosen:
        return 0
    items = []
    for raw, queue in chosen:
        prepare(channel, declared, queue)
        items.append(("", queue, to_amqp(from_amqp(raw, strip=DEAD_HEADERS))))
    publisher.send_confirmed(channel, items)
    for raw, _ in chosen:
        channel.basic_ack(raw.delivery_info["delivery_tag"])
    return len(items)


def purge_dead(publisher: Publisher, topology: Topology) -> int:
    def run(channel: Any, declared: Declared) -> int:
        topology.declare_dead_letters(channel, declared)
        return int(channel.queue_purge(DEAD_LETTER_QUEUE) or 0)

    return publisher.run(run, "purge dead letters")


__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "dead_copy",
    "list_dead",
    "purge_dead",
    "requeue_dead",
]
