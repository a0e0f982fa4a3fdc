"""How long to keep trying a server that does not answer: the two retry policies.

``ReconnectPolicy`` is the connection policy (``broker_connection_retry`` /
``broker_connection_max_retries``) with capped exponential backoff; ``RetryPolicy`` is Celery's
``task_publish_retry_policy`` shape (linear steps up to a maximum) for single operations such
as a publish or an RPC reply.


Celery (kombu's ``ensure_connection``) waits 2, 4, 6, ... up to 30 s between attempts. celeriac
doubles from a short first wait up to a cap instead: a blip (a broker restart, a failover)
costs a fraction of a second, a long outage one attempt every ``cap`` seconds, and
``broker_connection_max_retries`` bounds the number of attempts (0 or None: forever, as in
Celery). Every broker transport and the worker's start-up wait use this one sequence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: First wait after a failed attempt, and the longest wait between two attempts (seconds).
#: The cap is short because the waits happen on the consumer thread: a shutdown requested
#: during an outage waits for the current one to end.
FIRST_WAIT = 0.1
MAX_WAIT = 5.0


def backoff_wait(retry: int, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> float:
    """The wait before retry number ``retry`` (0-based): ``first * 2**retry``, at most ``cap``."""
    return min(first * 2.0 ** min(max(retry, 0), 62), cap)


def backoff_intervals(
    max_retries: int | None, first: float = FIRST_WAIT, cap: float = MAX_WAIT
) -> Iterator[float]:
    """Seconds to wait before each retry: ``first``, doubled each time, never above ``cap``.

    Yields ``max_retries`` values (endlessly when None); the caller gives up when it ends.
    """
    attempts = itertools.count() if max_retries is None else range(max(max_retries, 0))
    for attempt in attempts:
        yield backoff_wait(attempt, first, cap)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """``broker_connection_retry`` / ``broker_connection_max_retries`` as one value.

    ``retry=False`` means one attempt and no retry; ``max_retries`` of 0 or None with
    ``retry=True`` means retry forever, as Celery reads these settings.
    """

    retry: bool = True
    max_retries: int | None = 100

    @property
    def limit(self) -> int | None:
        """How many retries after the first attempt; None for no limit."""
        if not self.retry:
            return 0
        return self.max_retries or None

    def intervals(self) -> Iterator[float]:
        return backoff_intervals(self.limit)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to retry a broker operation: Celery's ``task_publish_retry_policy`` shape."""

    max_retries: int | None = 3
    interval_start: float = 0.0
    interval_step: float = 0.2
    interval_max: float = 0.2

    @classmethod
    def from_mapping(cls, policy: Mapping[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
        if not policy:
            return default
        return cls(
            max_retries=policy.get("max_retries", default.max_retries),
            interval_start=float(policy.get("interval_start", default.interval_start)),
            interval_step=float(policy.get("interval_step", default.interval_step)),
            interval_max=float(policy.get("interval_max", default.interval_max)),
        )

    def intervals(self) -> Iterator[float]:
        """Sleep before each retry; ends when the retries are spent."""
        counter = itertools.count() if self.max_retries is None else range(self.max_retries)
        for attempt in counter:
            yield min(self.interval_start + attempt * self.interval_step, self.interval_max)


#: Celery's ``task_publish_retry_policy`` default.
PUBLISH_RETRY = RetryPolicy(max_retries=3, interval_start=0.0, interval_step=0.2, interval_max=0.2)


__all__ = [
    "FIRST_WAIT",
    "MAX_WAIT",
    "PUBLISH_RETRY",
    "ReconnectPolicy",
    "RetryPolicy",
    "backoff_intervals",
    "backoff_wait",
]
