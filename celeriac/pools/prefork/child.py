"""The prefork child: receive one job, run it, report the outcome, repeat.

The child is a fork of the worker, so the app, its registered tasks and the parent's runner
lookup are already in memory; each ``TaskRunner`` the lookup builds here is cached in the
child's copy of the worker. The app's connections were reset by the fork hook in
``celeriac.app.base``, so the child opens its own on first use.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import traceback
from collections.abc import Iterable
from multiprocessing.connection import Connection

from celeriac import signals, states
from celeriac.exceptions import EncodeError
from celeriac.execution.outcome import Disposition, Outcome
from celeriac.execution.request import Request
from celeriac.execution.time_limits import AlarmSoftLimiter
from celeriac.pools.base import PoolOptions, RunnerLookup
from celeriac.pools.prefork import ipc
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso

logger = logging.getLogger(__name__)

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_RSS_DIVISOR = 1024 if sys.platform == "darwin" else 1

#: The soft time limit of the child's tasks: a ``SIGALRM`` timer (they run on its main thread).
_SOFT_LIMITER = AlarmSoftLimiter()


def child_main(conn: Connection, runners: RunnerLookup, config: PoolOptions,
               inherited: Iterable[Connection]) -> None:
    """The child process's whole life (the target of its ``multiprocessing.Process``)."""
    for other in inherited:  # the parent's ends of sibling pipes: not ours to hold open
        other.close()
    _reset_signals()
    try:
        signals.worker_process_init.send(sender=config.hostname)
    except Exception:
        logger.exception("worker_process_init handler failed; child %d exits", os.getpid())
        sys.exit(1)
    exitcode = 0
    try:
        _serve(conn, runners, config)
    except SystemExit as exc:
        exitcode = exc.code if isinstance(exc.code, int) else 1
    finally:
        try:
            signals.worker_process_shutdown.send(sender=config.hostname, pid=os.getpid(),
                                                 exitcode=exitcode)
        except Exception:
            logger.exception("worker_process_shutdown handler failed")
    sys.exit(exitcode)


def _reset_signals() -> None:
    """Undo the worker's handlers: Ctrl-C reaches the whole process group, but only the
    parent decides about shutdown; SIGTERM from the parent must end the child at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_DFL)


def _serve(conn: Connection, runners: RunnerLookup, config: PoolOptions) -> None:
    try:
        ipc.send(conn, ipc.encode(ipc.Ready(os.getpid())))
    except OSError:
        return
    done = 0
    while True:
        job = ipc.receive_job(conn)
        if job is None:
            return
        outcome, fatal = _run(runners, job.request)
        done += 1
        max_tasks = config.max_tasks_per_child
        retiring = (fatal or (max_tasks is not None and done >= max_tasks)
                    or _over_memory(config.max_memory_per_child))
        _report(conn, outcome, retiring)
        if fatal:
            raise SystemExit(1)
        if retiring:
            return


def _run(runners: RunnerLookup, request: Request) -> tuple[Outcome, bool]:
    """Run one request; the flag says the child must exit afterwards (SystemExit and such)."""
    try:
        return runners(request.task_name).run(request, _SOFT_LIMITER), False
    except BaseException as exc:  # the runner lets only non-Exception errors escape
        logger.error("Task %s[%s] raised %r; child %d exits", request.task_name,
                     request.task_id, exc, os.getpid())
        return failure_outcome(request, exc), True


def _report(conn: Connection, outcome: Outcome, retiring: bool) -> None:
    try:
        payload = ipc.encode(ipc.Done(outcome, retiring))
    except Exception as exc:
        error = EncodeError(f"Outcome of task {outcome.task_id} cannot be sent from the child "
                            f"process to the worker: {exc!r}")
        logger.error("%s", error)
        payload = ipc.encode(ipc.Done(_failure(outcome.task_id, error, None), retiring))
    try:
        ipc.send(conn, payload)
    except OSError:  # the parent is gone; nobody is left to report to
        raise SystemExit(0) from None


def _over_memory(limit_kb: int | None) -> bool:
    if not limit_kb:
        return False
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // _RSS_DIVISOR
    if rss_kb > limit_kb:
        logger.warning("Child %d uses %d kB, over max_memory_per_child (%d kB); replacing it",
                       os.getpid(), rss_kb, limit_kb)
        return True
    return False


def failure_outcome(request: Request, exc: BaseException) -> Outcome:
    """A FAILURE outcome for ``request`` that the runner itself could not produce."""
    headers = request.headers
    return _failure(request.task_id, exc, headers)


def _failure(task_id: str, exc: BaseException, headers: dict[str, object] | None) -> Outcome:
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    group = headers.get("group") if headers else None
    parent = headers.get("parent_id") if headers else None
    meta = ResultMeta(task_id=task_id, status=states.FAILURE, result=encode_exception(exc),
                      traceback=trace, date_done=now_iso(),
                      group_id=group if isinstance(group, str) else None,
                      parent_id=parent if isinstance(parent, str) else None)
    return Outcome(task_id, states.FAILURE, meta, Disposition.ACK,
                   reason=f"{type(exc).__name__}: {exc}")


__all__ = ["child_main", "failure_outcome"]
