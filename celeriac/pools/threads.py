"""The threads pool: N threads take requests from one queue. Suits I/O-bound tasks and
scales to ``-c 1000`` since idle threads only wait on the queue.

``grow`` starts threads at once; ``shrink`` queues one ``RETIRE`` marker per thread to stop,
so the requests queued before it still run and a running task is never interrupted.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from celeriac.execution.outcome import Disposition, Outcome
from celeriac.execution.time_limits import ThreadSoftLimiter
from celeriac.pools.base import (
    OutcomeCallback,
    PoolLimits,
    PoolOptions,
    RunnerLookup,
    resized,
)
from celeriac.states import FAILURE

if TYPE_CHECKING:
    from celeriac.execution.request import Request

logger = logging.getLogger(__name__)


class _Retire:
    """Queued by ``shrink``: the thread that takes it exits."""


RETIRE = _Retire()


class ThreadsPool:
    name = "threads"
    limits = PoolLimits(soft_time_limit=True)

    def __init__(self, options: PoolOptions) -> None:
        self.concurrency = max(1, options.concurrency)
        self._queue: queue.SimpleQueue[Request | _Retire | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._unstarted: list[Request] = []
        self._hurry = False
        self._names = itertools.count()

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        self._runners = runners
        self._on_outcome = on_outcome
        self._limiter = ThreadSoftLimiter()
        self._start_threads(self.concurrency)

    def _start_threads(self, n: int) -> None:
        for _ in range(n):
            thread = threading.Thread(target=self._work, name=f"celeriac-pool-{next(self._names)}")
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def grow(self, n: int = 1) -> None:
        """Run ``n`` more threads (started now)."""
        with self._lock:
            if self._stopping.is_set():
                return
            self.concurrency = resized(self.concurrency, max(n, 0), "thread(s)")
        self._start_threads(n)

    def shrink(self, n: int = 1) -> None:
        """Run ``n`` fewer threads: each exits when it reaches its ``RETIRE`` in the queue."""
        with self._lock:
            self.concurrency = resized(self.concurrency, -max(n, 0), "thread(s)")
        for _ in range(n):
            self._queue.put(RETIRE)

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
            if isinstance(request, _Retire):
                with self._lock:
                    self._threads.remove(threading.current_thread())
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
        with self._lock:
            self._stopping.set()
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + (timeout if graceful and timeout is not None else 0.1)
        for thread in threads:
            # Short slices, so a second signal (hurry) ends the wait promptly.
            while thread.is_alive() and not self._hurry and time.monotonic() < deadline:
                thread.join(0.1)
        still_running = [t.name for t in threads if t.is_alive()]
        if still_running:
            logger.warning("%d pool thread(s) still running at shutdown", len(still_running))
        return list(self._unstarted)
