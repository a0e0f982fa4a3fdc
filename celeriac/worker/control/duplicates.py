"""At start, ask whether another live worker already answers to this worker's node name.

Two workers sharing a name cannot be told apart by remote control (``inspect`` merges their
answers, ``revoke(destination=...)`` reaches both, ``-n`` exists for this). Celery notices it
when replies come back (``DuplicateNodenameWarning``); a worker here checks once, when it
starts: it pings its own name through the pidbox and counts the answers. Its own control node,
when listening, answers once; any further answer is another worker. The check runs on a
thread of its own, so it never delays the start, and any failure (a broker without broadcast,
a shutdown under way) only skips it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from celeriac.control.inspect import duplicate_node_message
from celeriac.control.mailbox import Mailbox, pidbox_exchanges
from celeriac.utils.ids import new_id

if TYPE_CHECKING:
    from celeriac.transport.base import Transport

logger = logging.getLogger(__name__)

#: How long the answers are collected (Celery's mingle and ``inspect`` wait as long).
CHECK_TIMEOUT = 1.0


def count_answers(transport: Transport, hostname: str, limit: int,
                  timeout: float = CHECK_TIMEOUT,
                  exchanges: tuple[str, str] = pidbox_exchanges()) -> int:
    """How many nodes answer a ping addressed to ``hostname`` (stops counting at ``limit``);
    ``exchanges`` are the pidbox's (command, reply) exchanges (``control_exchange``)."""
    channel = transport.channel()
    try:
        mailbox = Mailbox(channel, new_id(), exchange=exchanges[0], reply_exchange=exchanges[1])
    except Exception:  # no broadcast on this broker: nothing to ask with
        channel.close()
        raise
    try:
        replies = mailbox.call("ping", destination=[hostname], timeout=timeout, limit=limit)
    finally:
        mailbox.close()
    return sum(hostname in reply for reply in replies)


def check_duplicate_nodename(transport: Transport, hostname: str, self_answers: bool,
                             timeout: float = CHECK_TIMEOUT,
                             exchanges: tuple[str, str] = pidbox_exchanges()) -> bool:
    """Warn (log) and return True when another live worker answers to ``hostname``."""
    expected = 1 if self_answers else 0
    try:
        answers = count_answers(transport, hostname, expected + 1, timeout, exchanges)
    except Exception as exc:  # best effort: never stop a worker over a courtesy check
        logger.debug("Duplicate node name check skipped: %r", exc)
        return False
    if answers <= expected:
        return False
    logger.warning("DuplicateNodenameWarning: %s", duplicate_node_message([hostname]))
    return True


def start_duplicate_check(transport: Transport, hostname: str, self_answers: bool,
                          exchanges: tuple[str, str] = pidbox_exchanges()) -> threading.Thread:
    """Run ``check_duplicate_nodename`` on a daemon thread; return it (tests join it)."""
    thread = threading.Thread(target=check_duplicate_nodename,
                              args=(transport, hostname, self_answers, CHECK_TIMEOUT, exchanges),
                              name="celeriac-nodename-check", daemon=True)
    thread.start()
    return thread


__all__ = ["check_duplicate_nodename", "count_answers", "start_duplicate_check"]
