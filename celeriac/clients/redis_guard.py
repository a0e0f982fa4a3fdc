"""Running a Redis command under the broker's connection policy, with errors as sentences.

The ``_call`` side of ``RedisChannel``: connection errors are retried with capped exponential
backoff as ``broker_connection_retry`` / ``broker_connection_max_retries`` say
(``clients/retry.py``), and when that runs out the channel records
``connection_lost`` (a worker stops on it). Error replies are refusals (``BrokerRefusedError``),
raised at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import redis

from celeriac.clients.redis import refusal
from celeriac.clients.retry import ReconnectPolicy
from celeriac.exceptions import BrokerConnectionLost, BrokerRefusedError, OperationalError

if TYPE_CHECKING:
    from celeriac.config.frozen import TransportOptions

logger = logging.getLogger("celeriac.transport.redis.channel")
T = TypeVar("T")
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)
#: Guards every channel's outage bookkeeping: the fetch and ack threads of one channel often
#: lose (and regain) the server at the same instant, and each must not log the outage alone.
_OUTAGE_LOCK = threading.Lock()


class GuardedCalls:
    """Mixin of ``RedisChannel``; the channel sets the attributes below in its constructor."""

    options: TransportOptions
    where: str
    _failing: bool
    #: How many outages ended; a call that began before the last one ended and then fails
    #: lost a connection to that same outage, which is not reported a second time.
    _recoveries: int
    #: Set when reconnecting ran out (the worker stops on it); cleared by a success.
    connection_lost: BrokerConnectionLost | None
    #: Set by ``stop_retrying``: waits end at once and every call is one attempt.
    retry_stopped: threading.Event

    def stop_retrying(self) -> None:
        """A stopping worker must not wait out an outage: end the current backoff now and
        make every later call one attempt (a message whose ack is lost comes back)."""
        self.retry_stopped.set()

    def _call(self, fn: Callable[[], T], what: str, retry: bool = True) -> T:
        """Run ``fn``, retrying connection errors with capped exponential backoff.

        ``broker_connection_retry`` and ``broker_connection_max_retries`` (0 or None: forever,
        as in Celery) bound the retries; ``retry=False`` is one attempt, for callers that apply
        a policy of their own (the producer, the worker's start-up wait). The outage is logged
        once. A refusal by the server (bad credentials, out of memory, a message too large)
        raises ``BrokerRefusedError`` at once: retrying the same request cannot help.
        """
        # Once reconnecting has run out, every later call is one attempt until one succeeds:
        # a stopping worker's last acks must not wait through the whole policy again.
        policy = ReconnectPolicy(
            self.options.connection_retry and retry and self.connection_lost is None
            and not self.retry_stopped.is_set(),
            self.options.connection_max_retries)
        waits = policy.intervals()
        recoveries = self._recoveries
        for attempt in itertools.count():
            try:
                result = fn()
            except CONNECTION_ERRORS as exc:
                if isinstance(exc, redis.AuthenticationError):  # retrying cannot help
                    raise BrokerRefusedError(
                        f"Redis at {self.where} refused the credentials while trying to "
                        f"{what}: {str(exc).rstrip('.')}. Check the user and password in the "
                        "broker URL."
                    ) from exc
                wait = next(waits, None)
                if wait is None:
                    retries = f" after {attempt} retries" if attempt else ""
                    message = (
                        f"Redis at {self.where} unreachable while trying to {what}{retries}: "
                        f"{str(exc).rstrip('.')}. Check that the server runs and the broker "
                        "URL is right.")
                    if not retry:  # the caller applies its own policy
                        raise OperationalError(message) from exc
                    self.connection_lost = BrokerConnectionLost(message)
                    raise self.connection_lost from exc
                if self._outage_began(recoveries):
                    logger.warning("Redis connection lost (%s); retrying with backoff", exc)
                if self.retry_stopped.wait(wait):
                    waits = iter(())  # one last attempt, then give up
                recoveries = self._recoveries
                continue
            except redis.ResponseError as exc:
                raise BrokerRefusedError(refusal(self.where, what, exc)) from exc
            # Only retrying calls log the outage, so only they end it: a one-shot call (an
            # event broadcast) on a fresh connection must not make the retrying loops, whose
            # pooled connections are still dead, log the same outage again.
            if self._failing and retry and self._outage_ended():
                logger.info("Redis connection re-established")
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _outage_began(self, recoveries: int) -> bool:
        """Mark an outage begun; True for the one call that should log it (none when the
        failing call began before the last outage ended: it lost a connection to that one)."""
        with _OUTAGE_LOCK:
            if self._failing or recoveries != self._recoveries:
                return False
            self._failing = True
            return True

    def _outage_ended(self) -> bool:
        """Mark the outage over; True for the one call that should log it."""
        with _OUTAGE_LOCK:
            if not self._failing:
                return False
            self._failing = False
            self.connection_lost = None
            self._recoveries += 1
            return True


__all__ = ["CONNECTION_ERRORS", "GuardedCalls"]
