"""The pool seam: where a ``Request`` is executed (inline, on threads, in child processes).

A pool knows no worker and no app: it is built from a ``PoolOptions`` and runs requests
with the ``TaskRunner`` the runner lookup given to ``start`` returns. It reports every
finished request through the ``on_outcome`` callback given to ``start``; the callback may be
called from any thread, so the worker funnels outcomes into a thread-safe queue and stores
results and acks them in batches on its own thread. A pool runs no user code outside
``TaskRunner.run``: a failure it records itself (a prefork child died or hit its hard time
limit) is reported as an ``UnannouncedFailure`` whose hooks the worker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Request
    from celeriac.execution.runner import TaskRunner

OutcomeCallback = Callable[["Request", "Outcome"], None]
RunnerLookup = Callable[[str], "TaskRunner"]


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """What a pool is told when it is built; fixed for its lifetime."""

    concurrency: int = 1
    #: The worker's node name: the sender of ``worker_process_init``/``_shutdown``, as Celery's.
    hostname: str | None = None
    #: Prefork only: replace a child after this many tasks / above this RSS (kB); None: never.
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None


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


def resized(concurrency: int, by: int, unit: str = "process(es)") -> int:
    """The pool's size after growing by ``by`` (shrinking when negative); ``ValueError`` for
    no change or a size below one (the pools run no fewer than one worker)."""
    if by == 0:
        raise ValueError("cannot resize the pool by 0")
    if concurrency + by < 1:
        raise ValueError(f"Can't shrink pool by {-by}: it has {concurrency} {unit} and keeps "
                         "at least one")
    return concurrency + by


@runtime_checkable
class ResizablePool(Protocol):
    """A pool whose size changes while it runs (``pool_grow``/``pool_shrink``, autoscaling).

    ``concurrency`` is the target size from the call on; the pool gets there on its own
    (prefork forks on its supervisor thread and retires a busy child only after its task).
    Both raise ``ValueError`` for a size they cannot take (below one, say).
    """

    concurrency: int

    def grow(self, n: int = 1) -> None: ...

    def shrink(self, n: int = 1) -> None: ...


@runtime_checkable
class RestartablePool(Protocol):
    """A pool that can replace its workers with fresh ones (``pool_restart``)."""

    def restart(self) -> None: ...
