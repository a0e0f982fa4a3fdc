"""The worker's first contact with the broker: wait for it as the ``broker_connection_*``
settings say, and give up, or stop on a signal, cleanly.

Celery's semantics: ``broker_connection_retry_on_startup`` (None: follow
``broker_connection_retry``) says whether an unreachable broker at start is waited for at
all; ``broker_connection_max_retries`` (0 or None: forever) bounds the retries; the waits
between them are the transports' capped exponential backoff (``clients/retry.py``).
Each attempt is one declare, bounded by ``broker_connection_timeout`` per connect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac.clients.retry import ReconnectPolicy
from celeriac.exceptions import BrokerRefusedError, OperationalError

if TYPE_CHECKING:
    from celeriac.transport.base import Channel

logger = logging.getLogger(__name__)


class StartupInterrupted(BaseException):
    """Raised by the signal handler when SIGTERM/SIGINT arrives while the worker starts.

    A ``BaseException`` so that it passes through the transports' retry loops (which catch
    connection errors) and ends a connect that is blocked on an unreachable host at once.
    """


class BrokerUnreachableAtStart(OperationalError):
    """The broker could not be reached at start-up and the settings say not to wait longer."""


def startup_policy(conf: Any) -> ReconnectPolicy:
    """``broker_connection_retry_on_startup`` (else ``broker_connection_retry``) and
    ``broker_connection_max_retries`` as one policy."""
    retry = conf.broker_connection_retry_on_startup
    if retry is None:
        retry = conf.broker_connection_retry
    return ReconnectPolicy(bool(retry), conf.broker_connection_max_retries)


def declare_until_reachable(
    channel: Channel, queues: Sequence[str], policy: ReconnectPolicy, stop: threading.Event,
) -> bool:
    """Declare ``queues``, retrying per ``policy``; False if ``stop`` was set meanwhile.

    Raises:
        BrokerUnreachableAtStart: the retries allowed by ``policy`` are spent (at once when
            retrying on start-up is off), with one sentence saying why and what to check.
        BrokerRefusedError: the broker answered and refused (credentials, vhost): waiting
            cannot help.
    """
    waits = policy.intervals()
    attempts = 0
    while True:
        attempts += 1
        try:
            channel.declare(queues)
            return True
        except BrokerRefusedError:
            raise
        except OperationalError as exc:
            wait = next(waits, None)
            if wait is None:
                why = ("broker_connection_retry_on_startup is off" if policy.limit == 0
                       else f"gave up after {attempts} attempts, broker_connection_max_retries"
                       f"={policy.max_retries}")
                raise BrokerUnreachableAtStart(
                    f"Cannot reach the broker at start-up ({why}): {exc}") from exc
            logger.error("Broker not reachable (%s); attempt %d, next in %.1fs",
                         exc, attempts, wait)
            if stop.wait(wait):
                return False


__all__ = ["BrokerUnreachableAtStart", "StartupInterrupted", "declare_until_reachable",
           "startup_policy"]
