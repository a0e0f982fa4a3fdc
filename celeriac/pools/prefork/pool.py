"""The prefork pool: N forked children, one request each at a time.

``submit`` (on the consumer thread) writes the job to an idle child's pipe. One supervisor
thread (``celeriac-prefork-supervisor``) waits on all child pipes and process sentinels and

* reports each finished request through ``on_outcome`` and hands the child its next job;
* notices a child that died mid-task and reports ``WorkerLostError`` (or requeues the message
  under ``acks_late`` + ``reject_on_worker_lost``), then forks a replacement;
* enforces hard time limits: SIGKILL the child, report ``TimeLimitExceeded``, replace it;
* replaces children that retire after ``max_tasks_per_child`` / ``max_memory_per_child``.

It runs no user code: the failures it reports for a child (lost, hard limit) are
``UnannouncedFailure`` outcomes, whose errbacks and ``on_failure``/``task_failure`` the
worker runs on its consumer thread, so a slow handler cannot delay a hard time limit.

Per task: one pipe write, one pipe read. Replacements are forked from the supervisor thread;
the app resets its connections after a fork and the child touches nothing else of the parent's.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import EncodeError, TimeLimitExceeded
from celeriac.pools.base import OutcomeCallback, PoolLimits, PoolOptions, RunnerLookup
from celeriac.pools.prefork import ipc
from celeriac.pools.prefork.resize import PoolResizing, serving, tell_to_exit
from celeriac.pools.prefork.supervisor import (
    FORK,
    KILLED_SHUTDOWN,
    KILLED_TERMINATE,
    KILLED_TIMEOUT,
    ChildProc,
    RespawnBackoff,
    describe_exit,
    exit_outcome,
    failed,
    failed_in_parent,
    signal_child,
    spawn_child,
)

if TYPE_CHECKING:
    from celeriac.execution.outcome import Outcome
    from celeriac.execution.request import Request

logger = logging.getLogger(__name__)

#: How long ``start`` waits for the children to be ready before the worker goes on anyway.
START_TIMEOUT = 30.0


class PreforkPool(PoolResizing):
    """Child processes execute tasks. See the module docstring; resizing: ``resize.py``."""

    name = "prefork"
    limits = PoolLimits(soft_time_limit=True, hard_time_limit=True, terminate=True)

    def __init__(self, options: PoolOptions) -> None:
        self.concurrency = max(1, options.concurrency)
        self._config = options
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._children: list[ChildProc] = []
        self._idle: deque[ChildProc] = deque()
        self._queue: deque[Request] = deque()
        self._stopping = False
        self._closed = False
        self._hurry = False
        self._wake_r, self._wake_w = FORK.Pipe(duplex=False)
        self._indexes = itertools.count(1)
        self._backoff = RespawnBackoff()
        self._thread: threading.Thread | None = None

    def start(self, runners: RunnerLookup, on_outcome: OutcomeCallback) -> None:
        self._runners = runners
        self._on_outcome = on_outcome
        for _ in range(self.concurrency):
            self._spawn()
        self._thread = threading.Thread(target=self._supervise, daemon=True,
                                        name="celeriac-prefork-supervisor")
        self._thread.start()
        atexit.register(self._kill_at_exit)
        self._wait_ready(START_TIMEOUT)

    def _wait_ready(self, timeout: float) -> None:
        """Block until every child ran its init and reported ready (or one failed to)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(c.ready for c in self._children) or not self._children:
                remaining = deadline - time.monotonic()
                if self._backoff.failed_starts or remaining <= 0:
                    logger.warning("Only %d of %d child processes are ready",
                                   sum(c.ready for c in self._children), self.concurrency)
                    return
                self._changed.wait(remaining)

    def submit(self, request: Request) -> None:
        """Hand ``request`` to an idle child; queue it if none is idle (never blocks)."""
        with self._lock:
            if self._stopping or not self._idle:
                self._queue.append(request)
                return
            child = self._idle.popleft()
            self._assign_locked(child, request)
        self._send_jobs([(child, request)])

    def free_slots(self) -> int:
        with self._lock:
            return 0 if self._stopping else max(0, len(self._idle) - len(self._queue))

    def terminate(self, task_id: str, signum: int) -> bool:
        """Send ``signum`` to the child running ``task_id``; False if no child runs it.

        A child ended this way is reported as REVOKED (``TaskRevokedError('terminated')``).
        """
        with self._lock:
            child = next((c for c in self._children
                          if c.job is not None and c.job.task_id == task_id), None)
            if child is None:
                return False
            child.killed = KILLED_TERMINATE
        signal_child(child, signum)
        return True

    def child_pids(self) -> list[int]:  # for stats and tests
        with self._lock:
            return [c.pid for c in self._children]

    def stop(self, *, graceful: bool, timeout: float | None) -> list[Request]:
        with self._lock:
            self._stopping = True
        if graceful:
            self._wait_idle(timeout)
        self._release_children()
        self._wait_gone(2.0)
        with self._lock:
            self._closed = True
            unstarted = list(self._queue)
            self._queue.clear()
        self._wake()
        if self._thread is not None:
            self._thread.join(5.0)
        self._wake_r.close()
        self._wake_w.close()
        atexit.unregister(self._kill_at_exit)
        return unstarted

    def hurry(self) -> None:
        """Cold shutdown: stop waiting; busy children are then terminated and requeued."""
        self._hurry = True

    def _wait_idle(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while any(c.job is not None for c in self._children) and not self._hurry:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    logger.warning("Shutdown timeout: ending %d running task(s)",
                                   sum(c.job is not None for c in self._children))
                    return
                self._changed.wait(0.2 if remaining is None else min(remaining, 0.2))

    def _release_children(self) -> None:
        """Tell idle children to exit; SIGTERM the busy ones (their messages are requeued)."""
        with self._lock:
            idle, self._idle = list(self._idle), deque()
            busy = [c for c in self._children if c not in idle]
            for child in busy:
                child.killed = child.killed or KILLED_SHUTDOWN
        tell_to_exit(idle)
        for child in busy:
            signal_child(child, signal.SIGTERM)

    def _wait_gone(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        with self._changed:
            while self._children and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            left = list(self._children)
        for child in left:
            logger.warning("Child %d did not exit in time; killing it", child.pid)
            signal_child(child, signal.SIGKILL)
        deadline = time.monotonic() + grace
        with self._changed:
            while self._children and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())

    def _kill_at_exit(self) -> None:
        """Interpreter exit without ``stop``: don't leave children waiting on a dead pipe."""
        for child in list(self._children):
            signal_child(child, signal.SIGTERM)

    def _assign_locked(self, child: ChildProc, request: Request) -> None:
        limits = self._runners(request.task_name).limits(request)
        now = time.monotonic()
        child.job, child.started_at = request, now
        child.hard_limit, child.soft_limit = limits.hard, limits.soft
        child.hard_at = now + limits.hard if limits.hard else None
        child.soft_at = now + limits.soft if limits.soft else None

    def _take_work_locked(self) -> list[tuple[ChildProc, Request]]:
        pairs = []
        while self._queue and self._idle and not self._stopping:
            child, request = self._idle.popleft(), self._queue.popleft()
            self._assign_locked(child, request)
            pairs.append((child, request))
        return pairs

    def _send_jobs(self, pairs: list[tuple[ChildProc, Request]]) -> None:
        for child, request in pairs:
            try:
                payload = ipc.encode(ipc.Job(request))
            except Exception as exc:
                with self._lock:
                    child.job = None
                    self._idle.append(child)
                error = EncodeError(f"Task {request.task_name}[{request.task_id}] cannot be "
                                    f"sent to a child process: {exc!r}")
                self._report(request, failed(request, error))
                continue
            try:
                ipc.send(child.conn, payload)
            except OSError:  # the child just died: run the request elsewhere
                with self._lock:
                    if child.job is request:
                        child.job = None
                        self._queue.appendleft(request)
            if child.hard_at is not None or child.soft_at is not None:
                self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"!")

    def _report(self, request: Request, outcome: Outcome) -> None:
        try:
            self._on_outcome(request, outcome)
        except Exception:
            logger.exception("on_outcome failed for task %s", request.task_id)

    # -- the supervisor thread ----------------------------------------------------------------
    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                children = list(self._children)
                timeout = self._next_timeout_locked()
            try:
                self._supervise_once(children, timeout)
            except Exception:
                logger.exception("Prefork supervisor error (continuing)")
                time.sleep(0.1)

    def _supervise_once(self, children: list[ChildProc], timeout: float) -> None:
        waitables: list[Any] = [self._wake_r]
        waitables += [c.conn for c in children if not c.eof]
        waitables += [c.sentinel for c in children]
        ready = set(wait(waitables, timeout))
        if self._wake_r in ready:
            while self._wake_r.poll():
                self._wake_r.recv_bytes()
        for child in children:
            if child.conn in ready:
                self._on_done(child)
        for child in children:
            if child.sentinel in ready:
                self._on_exit(child)
        self._check_deadlines()
        self._replace_missing()

    def _next_timeout_locked(self) -> float:
        now = time.monotonic()
        times = [t for c in self._children if c.job is not None
                 for t in (c.soft_at, c.hard_at) if t is not None]
        if len(serving(self._children)) < self.concurrency and not self._stopping:
            times.append(self._backoff.respawn_at)
        return max(0.0, min([*times, now + 2.0]) - now)

    def _on_done(self, child: ChildProc) -> bool:
        """Read one report from ``child``; False once its pipe is closed."""
        try:
            done = ipc.receive_report(child.conn)
        except (EOFError, OSError):
            child.eof = True
            return False
        if isinstance(done, ipc.Ready):
            self._on_ready(child)
            return True
        with self._lock:
            request, child.job = child.job, None
            child.hard_at = child.soft_at = None
            child.completed += 1
            if child.killed == KILLED_TERMINATE:  # it finished before the signal landed
                child.killed = ""
            # Decided under the lock: once in ``_idle`` another thread may give it work.
            drained = child.draining and not (done.retiring or child.killed)
            if done.retiring:
                child.retiring = True
            elif not (child.killed or child.draining):
                self._idle.append(child)
            pairs = self._take_work_locked()
            self._changed.notify_all()
        self._send_jobs(pairs)  # the next job first: the child works while we report
        if drained:
            tell_to_exit([child])
        if request is not None:
            self._report(request, done.outcome)
        return True

    def _on_ready(self, child: ChildProc) -> None:
        with self._lock:
            child.ready = True
            self._backoff.child_ready()
            drained = child.draining and not child.killed
            if not (child.killed or child.draining):
                self._idle.append(child)
            pairs = self._take_work_locked()
            self._changed.notify_all()
        self._send_jobs(pairs)
        if drained:
            tell_to_exit([child])

    def _on_exit(self, child: ChildProc) -> None:
        while not child.eof and child.conn.poll() and self._on_done(child):
            pass
        child.process.join(1.0)
        exitcode = child.process.exitcode
        with self._lock:
            if child in self._children:
                self._children.remove(child)
            if child in self._idle:
                self._idle.remove(child)
            request, child.job = child.job, None
            if not self._stopping:
                self._backoff.child_exited(child)
            self._changed.notify_all()
        child.conn.close()
        if request is not None:
            lost = self._runners(request.task_name).reject_on_worker_lost
            self._report(request, exit_outcome(child, request, exitcode, lost))
        elif not (child.retiring or child.killed or child.draining or self._stopping):
            logger.warning("Child process %d exited with %s while idle; replacing it",
                           child.pid, describe_exit(exitcode))

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        expired: list[tuple[ChildProc, Request, float]] = []
        with self._lock:
            for child in self._children:
                job = child.job
                if job is None:
                    continue
                if child.soft_at is not None and now >= child.soft_at:
                    child.soft_at = None
                    logger.warning("Soft time limit (%gs) exceeded for %s[%s]",
                                   child.soft_limit or 0, job.task_name, job.task_id)
                if child.hard_at is not None and now >= child.hard_at:
                    child.job, child.hard_at, child.killed = None, None, KILLED_TIMEOUT
                    expired.append((child, job, child.hard_limit or 0))
                    self._changed.notify_all()
        for child, request, hard in expired:
            logger.error("Hard time limit (%gs) exceeded for %s[%s]", hard,
                         request.task_name, request.task_id)
            signal_child(child, signal.SIGKILL)
            # Celery records TimeLimitExceeded(<seconds>), so clients see the limit itself.
            self._report(request, failed_in_parent(request, TimeLimitExceeded(hard)))

    def _replace_missing(self) -> None:
        while True:
            with self._lock:
                if (self._stopping or len(serving(self._children)) >= self.concurrency
                        or time.monotonic() < self._backoff.respawn_at):
                    return
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            inherited: list[Connection] = [c.conn for c in self._children]
        inherited += [self._wake_r, self._wake_w]
        child = spawn_child(next(self._indexes), self._runners, self._config, inherited,
                            time.monotonic())
        with self._lock:
            self._children.append(child)  # idle once it reports Ready


__all__ = ["PreforkPool"]
