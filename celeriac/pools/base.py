"""The pool seam: where a ``Request`` is executed (inline, on threads, in child processes).

A pool reports every finished request through the ``on_outcome`` callback given to
``start``; the callback may be called from any thread, so the worker funnels outcomes into a
thread-safe queue and stores results and acks them in batches on its own thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from celeriac.exceptions import SoftTimeLimitExceeded

if TYPE_CHECKING:
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Request
    from celeriac.execution.runner import TaskRunner
    from celeriac.execution.time_limits import ThreadSoftLimiter

OutcomeCallback = Callable[["Request", "Outcome"], None]
RunnerLookup = Callable[[str], "TaskRunner"]


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """What a pool can enforce; the banner states what it cannot."""

    soft_time_limit: bool = False
    hard_time_limit: bool = False
    terminate: bool = False


class Pool(Protocol):
    """Executes requests; see the module docstring for the threading contract."""

    limits: PoolLimits
    concurrency: int
    name: str

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        """Prepare workers (threads, children) before the first ``submit``."""

    def submit(self, request: Request) -> None:
        """Run ``request``; the outcome arrives through ``on_outcome``."""

    def free_slots(self) -> int:
        """How many more requests could start executing right now."""

    def hurry(self) -> None:
        """A second shutdown signal arrived: stop waiting for running tasks.

        Called from a signal handler, so it only sets a flag the ``stop`` in progress reads.
        """

    def stop(self, *, graceful: bool, timeout: float | None) -> list[Request]:
        """Stop; with ``graceful`` let running requests finish (up to ``timeout`` s).

        Returns the requests that were accepted but never started, so the worker can hand
        them back to the broker.
        """


def run_with_soft_limit(limiter: ThreadSoftLimiter, runner: TaskRunner,
                        request: Request) -> Outcome:
    """Run ``request`` on this thread with its soft limit armed (threads and solo pools).

    Only the soft limit can be enforced on a thread (see ``execution/time_limits``); a hard
    limit is reported in the banner as not enforced. A limit firing just after the task
    finished is absorbed here, never in the pool's bookkeeping.
    """
    token = limiter.arm(runner.limits(request).soft)
    try:
        return runner.run(request)
    finally:
        with contextlib.suppress(SoftTimeLimitExceeded):
            limiter.disarm(token)
