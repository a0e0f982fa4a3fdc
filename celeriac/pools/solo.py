"""The solo pool: runs each task inline on the consumer thread.

Fastest for short tasks (no hand-off at all). It cannot interrupt a running task, so it
enforces no time limits; the banner says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.pools.base import OutcomeCallback, PoolLimits, RunnerLookup

if TYPE_CHECKING:
    from celeriac.worker.request import Request


class SoloPool:
    name = "solo"
    limits = PoolLimits()

    def __init__(self, concurrency: int = 1) -> None:
        self.concurrency = 1

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        self._runners = runners
        self._on_outcome = on_outcome

    def submit(self, request: Request) -> None:
        outcome = self._runners(request.task_name).run(request)
        self._on_outcome(request, outcome)

    def free_slots(self) -> int:
        return 1

    def stop(self, *, graceful: bool, timeout: float | None) -> list[Request]:
        return []
