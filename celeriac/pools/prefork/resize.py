"""Resizing the prefork pool while it runs: ``grow``, ``shrink`` and ``restart``.

Remote control (``pool_grow``, ``pool_shrink``, ``pool_restart``) and the autoscaler call these
from their own threads. None of them forks or kills anything itself:

* ``grow`` raises the target; the supervisor thread forks the missing children, exactly as it
  replaces a child that died (so every fork still happens on one thread).
* ``shrink`` lowers the target and marks the surplus children *draining*: an idle one is told
  to exit now, a busy one when it reports its task done. A running task is never cut short,
  as Celery stops a process only after its task finished.
* ``restart`` drains every child; the supervisor forks fresh ones from the parent at once
  (after ``pool_restart`` re-imported modules there), while busy old children finish first.

A draining child keeps every promise of a normal one until it exits (time limits, revoke
with terminate, ``WorkerLostError`` if it dies, a cold shutdown's requeue).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque

from celeriac.pools.base import resized
from celeriac.pools.prefork import ipc
from celeriac.pools.prefork.supervisor import ChildProc

logger = logging.getLogger(__name__)


def serving(children: list[ChildProc]) -> list[ChildProc]:
    """The children that count towards the pool's size (not draining away)."""
    return [child for child in children if not child.draining]


def surplus(children: list[ChildProc], idle: deque[ChildProc], excess: int) -> list[ChildProc]:
    """Which ``excess`` children to drain: idle ones first, then those still starting, then
    busy ones (they finish their task first); children already on their way out are skipped."""
    candidates = [c for c in children if not (c.draining or c.retiring or c.killed)]
    idle_first = ([c for c in candidates if c in idle]
                  + [c for c in candidates if c not in idle and not c.ready]
                  + [c for c in candidates if c not in idle and c.ready])
    return idle_first[:max(0, excess)]


def tell_to_exit(children: list[ChildProc]) -> None:
    """Ask idle children to exit (the ``None`` job); a child already gone is not an error."""
    message = ipc.encode(None)
    for child in children:
        with contextlib.suppress(OSError):
            ipc.send(child.conn, message)


class PoolResizing:
    """``grow``/``shrink``/``restart`` of ``PreforkPool``; see the module docstring.

    Everything here runs under the pool's lock and only marks children; the supervisor and
    the ``_on_done``/``_on_ready`` reports act on the marks.
    """

    concurrency: int
    _lock: threading.Lock
    _children: list[ChildProc]
    _idle: deque[ChildProc]
    _stopping: bool

    def _wake(self) -> None:
        raise NotImplementedError  # PreforkPool's: wakes the supervisor thread

    def grow(self, n: int = 1) -> None:
        """Run ``n`` more children; they are forked by the supervisor thread right away."""
        with self._lock:
            self.concurrency = resized(self.concurrency, max(n, 0))
        logger.info("Pool grows by %d to %d process(es)", n, self.concurrency)
        self._wake()

    def shrink(self, n: int = 1) -> None:
        """Run ``n`` fewer children: idle ones exit now, busy ones after their task."""
        with self._lock:
            self.concurrency = resized(self.concurrency, -max(n, 0))
            excess = len(serving(self._children)) - self.concurrency
            exit_now = self._drain_locked(surplus(self._children, self._idle, excess))
        logger.info("Pool shrinks by %d to %d process(es)", n, self.concurrency)
        tell_to_exit(exit_now)

    def restart(self) -> None:
        """Replace every child with a fresh fork of the parent (``pool_restart``)."""
        with self._lock:
            if self._stopping:
                return
            exit_now = self._drain_locked(serving(self._children))
        logger.info("Restarting the pool's %d process(es)", self.concurrency)
        tell_to_exit(exit_now)
        self._wake()

    def _drain_locked(self, children: list[ChildProc]) -> list[ChildProc]:
        """Mark ``children`` draining; return the idle ones, which may exit at once."""
        exit_now = []
        for child in children:
            child.draining = True
            if child in self._idle:
                self._idle.remove(child)
                exit_now.append(child)
        return exit_now


__all__ = ["PoolResizing", "serving", "surplus", "tell_to_exit"]
