"""``before_task_publish`` and ``after_task_publish``, with Celery's sender and arguments.

Tracing integrations (OpenTelemetry's Celery instrumentation, for one) start a span in
``before_task_publish`` and inject its context into ``headers``; the dict they get is the
message's own, so what they add travels with the message. ``properties`` is the message's own
too. Nothing here runs unless a receiver is connected: the producer checks
``has_receivers`` first, so an unused signal costs one attribute read per batch.

Arguments as Celery 5 sends them (``celery.app.amqp.send_task_message``): the sender is the
task name; ``body`` is the decoded ``(args, kwargs, embed)`` tuple of protocol 2;
``exchange`` is ``""`` for the default exchange; ``declare`` lists the queue to declare.
Changing ``body``, ``declare`` or ``retry_policy`` has no effect here (they are
informational: the body is already encoded when the signal is sent); change ``headers`` or
``properties`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celeriac import signals
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound


def message_body(message: TaskMessage) -> Any:
    """Protocol 2's ``(args, kwargs, embed)``, decoded from the bytes about to be sent.

    A body this process cannot decode (a serializer it does not have) is passed as the
    encoded bytes, since a signal must never stop a send.
    """
    from celeriac.protocol.task_message import decode_body

    try:
        body = decode_body(message, frozenset({message.content_type}))
    except Exception:
        return message.body
    embed = {"callbacks": body.callbacks, "errbacks": body.errbacks, "chain": body.chain,
             "chord": body.chord}
    return (body.args, body.kwargs, embed)


def send_before_publish(batch: Sequence[Outbound],
                        retry_policy: Mapping[str, Any]) -> list[Any]:
    """``before_task_publish`` for each message of ``batch``, in order; returns the decoded
    bodies, for ``send_after_publish`` to reuse."""
    bodies = [message_body(outbound.message) for outbound in batch]
    for outbound, body in zip(batch, bodies, strict=True):
        message = outbound.message
        signals.before_task_publish.send(
            sender=message.headers.get("task"), body=body,
            exchange=outbound.exchange, routing_key=outbound.routing_key,
            headers=message.headers, properties=message.properties,
            declare=[] if outbound.exchange else [outbound.routing_key],
            retry_policy=dict(retry_policy),
        )
    return bodies


def send_after_publish(batch: Sequence[Outbound], bodies: Sequence[Any] | None = None) -> None:
    """``after_task_publish`` for each message of ``batch``, last first.

    Last first so receivers that enter a context in ``before_task_publish`` and leave it here
    (a tracing span) leave them in the reverse order they entered, as a with-block would.
    """
    if bodies is None:
        bodies = [message_body(outbound.message) for outbound in batch]
    for outbound, body in zip(reversed(batch), reversed(bodies), strict=True):
        message = outbound.message
        signals.after_task_publish.send(
            sender=message.headers.get("task"), body=body,
            exchange=outbound.exchange, routing_key=outbound.routing_key,
            headers=message.headers,
        )
