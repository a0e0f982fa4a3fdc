"""The solo pool: runs each task inline on the consumer thread.

Fastest for short tasks (no hand-off at all). Soft time limits are raised in the task
between bytecodes (not inside a blocking C call); hard limits cannot be enforced on a thread,
and the banner says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac import signals
from celeriac.execution.time_limits import ThreadSoftLimiter
from celeriac.pools.base import OutcomeCallback, PoolLimits, PoolOptions, RunnerLookup

if TYPE_CHECKING:
    from celeriac.execution.request import Request


class SoloPool:
    name = "solo"
    limits = PoolLimits(soft_time_limit=True)

    def __init__(self, options: PoolOptions) -> None:
        self.concurrency = 1
        self.hostname = options.hostname

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        # Tasks run in this very process, so it is the one to prepare (as Celery's solo pool).
        signals.worker_process_init.send(sender=self.hostname)
        self._runners = runners
        self._on_outcome = on_outcome
        self._limiter = ThreadSoftLimiter()

    def submit(self, request: Request) -> None:
        outcome = self._runners(request.task_name).run(request, self._limiter)
        self._on_outcome(request, outcome)

    def free_slots(self) -> int:
        return 1

    def hurry(self) -> None:
        """Nothing to hurry: the running task is on the consumer thread, already stopping."""

    def stop(self, *, graceful: bool, timeout: float | None) -> list[Request]:
        return []
