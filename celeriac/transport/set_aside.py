"""The one ERROR line a transport writes for each message it sets aside (dead-letters).

Every transport says it the same way, so an operator can grep one phrase whatever the broker.
"""

from __future__ import annotations

import logging

from celeriac.transport.base import Delivery

logger = logging.getLogger(__name__)


def log_set_aside(delivery: Delivery, reason: str) -> None:
    """Log that ``delivery`` left its queue for the dead letters, and why."""
    logger.error(
        "Message %s (task %s) from queue %r set aside: %s",
        delivery.tag,
        delivery.message.task_name,
        delivery.queue,
        reason,
    )


__all__ = ["log_set_aside"]
