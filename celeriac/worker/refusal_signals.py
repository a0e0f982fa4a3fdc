"""``task_unknown`` and ``task_rejected``: a message the worker will not run, as Celery says it.

Celery 5's consumer sends ``task_unknown(sender=consumer, message, exc, name, id)`` for a task
name nobody registered, and ``task_rejected(sender=consumer, message, exc)`` for a message it
cannot read (invalid, or a content type it refuses). Here ``message`` is the ``TaskMessage``
(``headers``, ``properties``, ``body`` as in kombu's message) and ``exc`` the reason, or
None when the worker has no exception object for it. Set-aside is the rare path, so building
the arguments costs nothing that matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.exceptions import NotRegistered
from celeriac.protocol.message import TaskMessage

if TYPE_CHECKING:
    from celeriac.worker.dispatch import Decision


def send_refusal_signal(consumer: Any, message: TaskMessage, decision: Decision) -> None:
    """Tell receivers why ``message`` was set aside instead of run (and monitors, with task
    events on: ``task-failed`` for an unknown task)."""
    if (events := consumer.dispatcher.events) is not None and events.tasks:
        events.task_refused(message, decision.error)
    if isinstance(decision.error, NotRegistered):
        if signals.task_unknown.has_receivers:
            signals.task_unknown.send(sender=consumer, message=message, exc=decision.error,
                                      name=message.headers.get("task"),
                                      id=message.headers.get("id"))
    elif signals.task_rejected.has_receivers:
        signals.task_rejected.send(sender=consumer, message=message, exc=decision.error)
