"""Bookkeeping for prefork children: one ``ChildProc`` per process, how to start one, and
the outcomes the parent reports itself when a child cannot (it died, hit its hard limit, was
terminated, or was stopped by a cold shutdown).

The parent only records those outcomes; it runs no user code. A failure the child could not
announce is reported as an ``UnannouncedFailure``, and the worker runs its errbacks,
``on_failure`` and ``task_failure`` on its consumer thread (``TaskRunner.announce_failure``)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from celeriac import states
from celeriac.exceptions import TaskRevokedError, WorkerLostError
from celeriac.execution.outcome import Disposition, Outcome, UnannouncedFailure
from celeriac.execution.request import Request
from celeriac.pools.base import PoolOptions, RunnerLookup
from celeriac.pools.prefork.child import child_main
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso

logger = logging.getLogger(__name__)

#: Children are forked so they inherit the registered tasks (and the runner lookup).
FORK = multiprocessing.get_context("fork")

#: Longest wait between respawns while children keep dying at start.
MAX_RESPAWN_DELAY = 5.0

#: Why the parent ended a child on purpose; decides the outcome reported for its request.
KILLED_TIMEOUT = "timeout"
KILLED_TERMINATE = "terminate"
KILLED_SHUTDOWN = "shutdown"


@dataclass(eq=False, slots=True)
class ChildProc:
    """One child process and the request it is running (``job``), if any."""

    process: BaseProcess
    conn: Connection
    index: int
    spawned_at: float
    job: Request | None = None
    started_at: float = 0.0
    soft_at: float | None = None
    hard_at: float | None = None
    hard_limit: float | None = None
    soft_limit: float | None = None
    retiring: bool = False
    killed: str = ""
    completed: int = 0
    eof: bool = False
    ready: bool = False
    #: The pool shrank or restarts: this child gets no more work and is told to exit once
    #: idle (never while it runs a task); it is not replaced.
    draining: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    @property
    def sentinel(self) -> int:
        return self.process.sentinel


class RespawnBackoff:
    """Delays replacements while children keep dying before they are ready.

    Without it a child that cannot start (a failing ``worker_process_init`` handler, say)
    would be re-forked in a tight loop. Not thread-safe: used under the pool's lock.
    """

    def __init__(self) -> None:
        self.respawn_at = 0.0
        self._failed_starts = 0

    def child_ready(self) -> None:
        self._failed_starts = 0
        self.respawn_at = 0.0

    def child_exited(self, child: ChildProc) -> None:
        if child.ready or child.killed:
            return
        self._failed_starts += 1
        delay = min(MAX_RESPAWN_DELAY, 0.1 * 2 ** self._failed_starts)
        self.respawn_at = time.monotonic() + delay
        logger.error("Child process %d exited with %s before it was ready; next start in %.1fs",
                     child.pid, describe_exit(child.process.exitcode), delay)

    @property
    def failed_starts(self) -> int:
        return self._failed_starts


def spawn_child(index: int, runners: RunnerLookup, config: PoolOptions,
                inherited: list[Connection], now: float) -> ChildProc:
    """Fork a child serving jobs on a fresh pipe.

    ``inherited`` are the parent's ends of the other children's pipes (and the supervisor's
    wake-up pipe); the child closes its copies first thing.
    """
    parent_end, child_end = FORK.Pipe(duplex=True)
    # Named like Celery's children, so log lines read "INFO/ForkPoolWorker-1" in both.
    process = FORK.Process(target=child_main, name=f"ForkPoolWorker-{index}",
                            args=(child_end, runners, config, [*inherited, parent_end]))
    process.daemon = False  # a task may start processes of its own
    process.start()
    child_end.close()
    return ChildProc(process=process, conn=parent_end, index=index, spawned_at=now)


def signal_child(child: ChildProc, signum: int) -> None:
    """Send ``signum`` to ``child``; a child that already exited is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(child.pid, signum)


def describe_exit(exitcode: int | None) -> str:
    """Billiard's ``human_status``: ``signal 9 (SIGKILL)`` or ``exitcode 1``."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exitcode {exitcode}"


def _context_ids(request: Request) -> dict[str, Any]:
    headers = request.headers
    group, parent = headers.get("group"), headers.get("parent_id")
    return {"group_id": group if isinstance(group, str) else None,
            "parent_id": parent if isinstance(parent, str) else None}


def _trace(exc: BaseException) -> str:
    try:
        raise exc
    except BaseException as raised:
        return "".join(traceback.format_exception(type(raised), raised, raised.__traceback__))


def failed(request: Request, exc: BaseException, state: str = states.FAILURE,
           disposition: Disposition = Disposition.ACK) -> Outcome:
    """An outcome with a stored error record for ``request``, built by the parent."""
    meta = ResultMeta(task_id=request.task_id, status=state, result=encode_exception(exc),
                      traceback=_trace(exc), date_done=now_iso(), **_context_ids(request))
    return Outcome(request.task_id, state, meta, disposition,
                   reason=f"{type(exc).__name__}: {exc}")


def failed_in_parent(request: Request, error: Exception) -> UnannouncedFailure:
    """A FAILURE the parent records for a child that cannot; the worker announces it."""
    outcome = failed(request, error)
    return UnannouncedFailure(outcome.task_id, outcome.state, outcome.meta,
                              outcome.disposition, reason=outcome.reason, error=error)


def lost_error(request: Request, exitcode: int | None) -> WorkerLostError:
    """Celery's wording for a child that died mid-task."""
    return WorkerLostError(
        f"Worker exited prematurely: {describe_exit(exitcode)} Job: {request.task_id}."
    )


def requeued(request: Request, reason: str) -> Outcome:
    """Nothing stored; the message goes back to the broker to run again."""
    return Outcome(request.task_id, states.FAILURE, None, Disposition.REQUEUE, reason=reason)


def terminated_outcome(request: Request, signum: int | None) -> Outcome:
    """``revoke(terminate=True)`` ended the task; recorded as REVOKED like Celery does."""
    return failed(request, TaskRevokedError("terminated"), state=states.REVOKED)


def exit_outcome(child: ChildProc, request: Request, exitcode: int | None,
                 reject_on_worker_lost: bool) -> Outcome:
    """The outcome of ``request`` whose child exited before reporting one."""
    if child.killed == KILLED_TERMINATE:
        logger.info("Task %s[%s] terminated", request.task_name, request.task_id)
        return terminated_outcome(request, exitcode)
    if child.killed == KILLED_SHUTDOWN:
        return requeued(request, "worker shut down before the task finished")
    requeue = request.acks_late and reject_on_worker_lost
    logger.error("Process %r pid:%d exited with %r while running %s[%s]%s",
                 child.process.name, child.pid, describe_exit(exitcode), request.task_name,
                 request.task_id, "; message requeued" if requeue else "")
    error = lost_error(request, exitcode)
    if requeue:
        return requeued(request, str(error))
    return failed_in_parent(request, error)


__all__ = [
    "FORK",
    "KILLED_SHUTDOWN",
    "KILLED_TERMINATE",
    "KILLED_TIMEOUT",
    "ChildProc",
    "RespawnBackoff",
    "describe_exit",
    "exit_outcome",
    "failed",
    "failed_in_parent",
    "lost_error",
    "requeued",
    "signal_child",
    "spawn_child",
    "terminated_outcome",
]
