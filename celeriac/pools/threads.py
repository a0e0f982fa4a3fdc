"""The threads pool: N threads take requests from one queue. Suits I/O-bound tasks and
scales to ``-c 1000`` since idle threads only wait on the queue."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from celeriac.execution.outcome import Disposition, Outcome
from celeriac.execution.time_limits import ThreadSoftLimiter
from celeriac.pools.base import OutcomeCallback, PoolLimits, PoolOptions, RunnerLookup
from celeriac.states import FAILURE

if TYPE_CHECKING:
    from celeriac.execution.request import Request

logger = logging.getLogger(__name__)


class ThreadsPool:
    name = "threads"
    limits = PoolLimits(soft_time_limit=True)

    def __init__(self, options: PoolOptions) -> None:
        self.concurrency = max(1, options.concurrency)
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._unstarted: list[Request] = []
        self._hurry = False

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        self._runners = runners
        self._on_outcome = on_outcome
        self._limiter = ThreadSoftLimiter()
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"celeriac-pool-{index}")
            thread.start()
            self._threads.append(thread)

    def submit(self, request: Request) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(request)

    def free_slots(self) -> int:
        with self._lock:
            return max(0, self.concurrency - self._pending)

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            if self._stopping.is_set():
                self._unstarted.append(request)
                continue
            try:
                outcome = self._runners(request.task_name).run(request, self._limiter)
            except BaseException as exc:  # the runner never raises; this guards the thread
                logger.exception("Pool thread crashed running %s", request.task_id)
                outcome = Outcome(request.task_id, FAILURE, None, Disposition.REQUEUE,
                                  reason=repr(exc))
            with self._lock:
                self._pending -= 1
            self._on_outcome(request, outcome)

    def hurry(self) -> None:
        self._hurry = True

    def stop(self, *, graceful: bool, timeout: float | None) -> list[Request]:
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + (timeout if graceful and timeout is not None else 0.1)
        for thread in self._threads:
            # Short slices, so a second signal (hurry) ends the wait promptly.
            while thread.is_alive() and not self._hurry and time.monotonic() < deadline:
                thread.join(0.1)
        still_running = [t.name for t in self._threads if t.is_alive()]
        if still_running:
            logger.warning("%d pool thread(s) still running at shutdown", len(still_running))
        return list(self._unstarted)
