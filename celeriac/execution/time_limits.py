"""Time limits: which limits apply to a request, and the ways a pool can enforce them.

Resolution follows Celery: the message's ``timelimit`` header (``[hard, soft]``, in that
order) wins, then the task's ``time_limit`` / ``soft_time_limit`` attributes, then the
``task_time_limit`` / ``task_soft_time_limit`` settings. A limit of ``0`` or ``None`` means
"no limit" at that level, so the next level applies (Celery uses ``or`` too).

Enforcement depends on what the pool can interrupt:

* **prefork** can do both. The *soft* limit is a ``SIGALRM`` timer in the child
  (:class:`AlarmSoftLimiter`) that raises :class:`SoftTimeLimitExceeded` inside the task, even in
  the middle of ``time.sleep`` or a blocking socket read, because the signal interrupts the
  system call. The *hard* limit is enforced by the parent, which SIGKILLs the child.
* **threads** / **solo** can only use :class:`ThreadSoftLimiter`: an asynchronous exception
  queued for the thread (``PyThreadState_SetAsyncExc``). It is delivered when the thread next
  runs Python bytecode, so a task blocked in C (``time.sleep``, a socket read, a long C
  extension call) only sees it when that call returns. Signals cannot be used there because
  Python runs signal handlers on the main thread only, and the task runs on another thread.
  A hard limit is impossible for those pools: a thread cannot be killed, only abandoned.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from celeriac.exceptions import SoftTimeLimitExceeded


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """The limits (in seconds) that apply to one request; ``None`` means unlimited."""

    hard: float | None = None
    soft: float | None = None


def _positive(value: Any) -> float | None:
    """``value`` as a limit, or None when unset; ints stay ints (as Celery reports them)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def resolve_time_limits(headers: dict[str, Any], task: Any,
                        default_hard: Any = None, default_soft: Any = None) -> TimeLimits:
    """The limits for a message's ``headers`` running ``task`` (see the module docstring).

    ``default_hard`` / ``default_soft`` are the app's ``task_time_limit`` /
    ``task_soft_time_limit`` settings, read once by the caller.
    """
    header = headers.get("timelimit") or (None, None)
    try:
        header_hard, header_soft = header[0], header[1]
    except (TypeError, IndexError, KeyError):
        header_hard = header_soft = None
    hard = (_positive(header_hard) or _positive(getattr(task, "time_limit", None))
            or _positive(default_hard))
    soft = (_positive(header_soft) or _positive(getattr(task, "soft_time_limit", None))
            or _positive(default_soft))
    return TimeLimits(hard=hard, soft=soft)


class SoftLimiter(Protocol):
    """Raises ``SoftTimeLimitExceeded`` in the thread running a task once its soft limit is up.

    ``TaskRunner.run`` arms it around the task's own code only (``TaskRunner.execute``), never
    around storing, publishing callbacks or hooks: a limit firing inside broker I/O would
    leave a half-sent message. A limit already fired when ``disarm`` is called may still be
    delivered during ``disarm``; the runner absorbs it there.
    """

    def arm(self, seconds: float | None) -> int:
        """Start the clock for the calling thread; returns the token for ``disarm``."""

    def disarm(self, token: int) -> None:
        """Stop the clock ``arm`` started (0: nothing was armed)."""


# -- soft limit by signal (prefork children: the task runs on the main thread) ---------------
def _raise_soft_limit(signum: int, frame: FrameType | None) -> None:
    raise SoftTimeLimitExceeded()


class AlarmSoftLimiter:
    """A ``SIGALRM`` timer (main thread only): interrupts even ``time.sleep`` or a blocking
    socket read, because the signal interrupts the system call."""

    def __init__(self) -> None:
        self._previous: Any = signal.SIG_DFL

    def arm(self, seconds: float | None) -> int:
        if not seconds:
            return 0
        self._previous = signal.signal(signal.SIGALRM, _raise_soft_limit)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        return 1

    def disarm(self, token: int) -> None:
        if token:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)


# -- soft limit by asynchronous exception (threads / solo pools) -----------------------------
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class ThreadSoftLimiter:
    """One timer thread that raises ``SoftTimeLimitExceeded`` in task threads on time.

    ``arm(seconds)`` from the thread about to run a task returns a token; ``disarm(token)``
    when the task is over. See the module docstring for what this cannot interrupt. An
    exception queued just before ``disarm`` may still arrive during ``disarm`` (never after
    it returns: the queued exception is delivered at its next call); the caller absorbs it.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, int] = {}  # token -> thread ident
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float | None) -> int:
        """Start the clock for the calling thread; 0 (a no-op token) when unlimited."""
        if not seconds:
            return 0
        token = next(self._tokens)
        with self._lock:
            self._armed[token] = threading.get_ident()
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="celeriac-soft-limits")
                self._thread.start()
            self._lock.notify()
        return token

    def disarm(self, token: int) -> None:
        """Stop the clock; must be called from the thread that armed it."""
        if token:
            with self._lock:
                self._armed.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap:
                    self._lock.wait()
                deadline, token = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
                heapq.heappop(self._heap)
                ident = self._armed.pop(token, None)
                # Raised while holding the lock, so a concurrent disarm() (which needs the lock)
                # either happened before, and nothing fires, or happens after.
                if ident is not None:
                    _set_async_exc(ident, ctypes.py_object(SoftTimeLimitExceeded))


__all__ = ["AlarmSoftLimiter", "SoftLimiter", "ThreadSoftLimiter", "TimeLimits",
           "resolve_time_limits"]
