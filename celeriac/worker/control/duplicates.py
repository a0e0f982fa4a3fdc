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
                  exchanges: tuple[str, str] = pidbox_exchanges(),
                  stop: threading.Event | None = None) -> int:
    """How many nodes answer a ping addressed to ``hostname`` (stops counting at ``limit``,
    or when ``stop`` is set); ``exchanges`` are the pidbox's (command, reply) exchanges
    (``control_exchange``)."""
    channel = transport.channel()
    try:
        mailbox = Mailbox(channel, new_id(), exchange=exchanges[0], reply_exchange=exchanges[1])
    except Exception:  # no broadcast on this broker: nothing to ask with
        channel.close()
        raise
    try:
        replies = mailbox.call("ping", destination=[hostname], timeout=timeout, limit=limit,
                               stop=stop)
    finally:
        mailbox.close()
    return sum(hostname in reply for reply in replies)


def check_duplicate_nodename(transport: Transport, hostname: str, self_answers: bool,
                             timeout: float = CHECK_TIMEOUT,
                             exchanges: tuple[str, str] = pidbox_exchanges(),
                             stop: threading.Event | None = None) -> bool:
    """Warn (log) and return True when another live worker answers to ``hostname``."""
    expected = 1 if self_answers else 0
    try:
        answers = count_answers(transport, hostname, expected + 1, timeout, exchanges, stop)
    except Exception as exc:  # best effort: never stop a worker over a courtesy check
        logger.debug("Duplicate node name check skipped: %r", exc)
        return False
    if answers <= expected:
        return False
    logger.warning("DuplicateNodenameWarning: %s", duplicate_node_message([hostname]))
    return True


class DuplicateCheck(threading.Thread):
    """``check_duplicate_nodename`` on a daemon thread that a shutting-down worker can end.

    The worker ends it (``finish``) before closing its app, so the check's broker connection
    never outlives the worker (on RabbitMQ it is a connection of its own).
    """

    def __init__(self, transport: Transport, hostname: str, self_answers: bool,
                 exchanges: tuple[str, str]) -> None:
        self.stop = threading.Event()
        super().__init__(target=check_duplicate_nodename,
                         args=(transport, hostname, self_answers, CHECK_TIMEOUT, exchanges,
                               self.stop),
                         name="celeriac-nodename-check", daemon=True)

    def finish(self, timeout: float) -> None:
        """Stop collecting answers and wait (at most ``timeout`` s) for the thread to end."""
        self.stop.set()
        self.join(timeout)


def start_duplicate_check(transport: Transport, hostname: str, self_answers: bool,
                          exchanges: tuple[str, str] = pidbox_exchanges()) -> DuplicateCheck:
    """Start a ``DuplicateCheck``; return it (the worker finishes it, tests join it)."""
    check = DuplicateCheck(transport, hostname, self_answers, exchanges)
    check.start()
    return check


__all__ = ["DuplicateCheck", "check_duplicate_nodename", "count_answers",
           "start_duplicate_check"]
