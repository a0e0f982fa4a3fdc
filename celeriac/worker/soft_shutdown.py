"""Celery 5.5's soft shutdown: running tasks get a last, bounded period to finish at cold shutdown.

Settings: ``worker_soft_shutdown_timeout`` (seconds; 0, the default, disables it) and
``worker_enable_soft_shutdown_on_idle``. A cold shutdown (the second SIGTERM/SIGINT, or
``Worker.stop(cold=True)``) normally abandons running tasks at once (their messages go back
to the broker and run again elsewhere). With a soft shutdown timeout, running tasks first get
up to that many seconds to finish, so short ones complete (results stored, messages acked)
and only long ones are handed back. The period ends early when no task is left running,
unless ``worker_enable_soft_shutdown_on_idle`` is set, in which case the cold shutdown always
lasts the full period, as in Celery. A further signal ends it at once. SIGQUIT still exits
immediately.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celeriac.pools.base import Pool

logger = logging.getLogger("celeriac.worker")


class SoftShutdown:
    """Decides when a cold shutdown stops waiting for running tasks."""

    def __init__(self, conf: Any, pool: Pool) -> None:
        self.timeout = max(0.0, float(conf.worker_soft_shutdown_timeout or 0.0))
        self.on_idle = bool(conf.worker_enable_soft_shutdown_on_idle)
        self._pool = pool
        self._ends_at: float | None = None
        self._timer: threading.Timer | None = None
        self._cut_short = threading.Event()

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    def wanted(self, running: int) -> bool:
        """Whether a cold shutdown with ``running`` tasks gets a soft period (as Celery)."""
        return self.enabled and (running > 0 or self.on_idle)

    def begin(self, running: int) -> None:
        """Cold shutdown requested: start the soft period, or hurry the pool when there is
        none (disabled, or nothing running and not ``on_idle``).

        Called from a signal handler: it only starts a timer thread or sets flags. A second
        call (one signal more) ends the period now.
        """
        if self._ends_at is not None:
            self.cut_short()
            return
        if not self.wanted(running):
            self._pool.hurry()
            return
        logger.warning("Initiating soft shutdown: running tasks get %g s to finish before "
                       "the cold shutdown", self.timeout)
        self._ends_at = time.monotonic() + self.timeout
        self._timer = threading.Timer(self.timeout, self._pool.hurry)
        self._timer.daemon = True
        self._timer.start()

    def cut_short(self) -> None:
        self._cut_short.set()
        self._pool.hurry()

    def pool_wait(self, cold: bool, running: int, warm_timeout: float) -> tuple[bool, float]:
        """``(graceful, timeout)`` for ``Pool.stop`` when the shutdown begins."""
        if not cold:
            return True, warm_timeout
        if self._ends_at is None:
            if not self.wanted(running):
                return False, 0.0
            self.begin(running)
        ends_at = self._ends_at if self._ends_at is not None else time.monotonic()
        return True, max(0.0, ends_at - time.monotonic())

    def wait_out_idle(self) -> None:
        """With ``worker_enable_soft_shutdown_on_idle``, spend the rest of the period."""
        if not self.on_idle or self._ends_at is None:
            return
        remaining = self._ends_at - time.monotonic()
        if remaining > 0:
            self._cut_short.wait(remaining)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
