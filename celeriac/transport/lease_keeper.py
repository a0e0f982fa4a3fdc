"""The lease keeper: a small process that keeps a worker's channel alive while its task runs.

Why a process: the worker's heartbeat is a thread, and a task that holds the GIL (a long C
call, a regex backtracking, a ``ctypes`` call that does not release it) starves every thread
of its process. Once ``lease_timeout`` passes without a heartbeat, peers take the worker for
dead and run its messages a second time, while the first run goes on. The keeper runs the
channel's ``LivenessRenewer`` every ``heartbeat_interval`` in its own interpreter, so the
liveness record (Redis: ``celeriac.consumer.<id>``; SQLite: the ``consumers`` row) stays fresh
whatever the worker's threads are doing. The worker's own heartbeat keeps doing the rest
(re-scoring ``unacked_index``, restoring dead peers).

Dying with the worker: the keeper must not keep a dead worker alive, or its messages would
never come back. It reads its stdin, a pipe whose other end only the worker holds, and exits
on end-of-file; it also exits as soon as its parent process changes (a ``kill -9`` of the
worker re-parents it), whichever it sees first, and never renews after seeing either. So a
killed worker's leases expire at most ``lease_timeout`` after its death, as without a keeper.
If the keeper itself dies, the worker's heartbeat still renews liveness (as before the keeper
existed) and the worker starts a new keeper.

Protocol on stdin: an 8-byte big-endian length, then the pickled ``(renewer, interval)``;
after that the pipe only ever closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from multiprocessing.spawn import get_executable

from celeriac.transport.base import LivenessRenewer

logger = logging.getLogger(__name__)

_HEADER = 8


class LeaseKeeper:
    """The worker's handle on its keeper process: start, restart if it died, stop."""

    def __init__(self, renewer: LivenessRenewer, interval: float) -> None:
        self._payload = pickle.dumps((renewer, interval))
        self._interval = interval
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the keeper process; it renews at once, then every ``interval``."""
        process = subprocess.Popen(  # multiprocessing's interpreter: right under embedding too
            [get_executable(), "-m", "celeriac.transport.lease_keeper"],
            stdin=subprocess.PIPE, close_fds=True,
        )
        assert process.stdin is not None
        process.stdin.write(len(self._payload).to_bytes(_HEADER, "big") + self._payload)
        process.stdin.flush()
        self._process = process
        logger.info("Lease keeper (pid %d) renews this worker's liveness every %gs",
                    process.pid, self._interval)

    def ensure_running(self) -> None:
        """Called from the worker's heartbeat: replace a keeper that died (OOM killer, kill)."""
        if self._process is not None and self._process.poll() is not None:
            logger.warning("Lease keeper %d exited with %s; starting a new one",
                           self._process.pid, self._process.returncode)
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close its pipe (it exits at once) and reap it; kill it by PID if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_keeper(channel: object, interval: float) -> LeaseKeeper | None:
    """A started keeper for ``channel``, or None if its broker needs none (or cannot have one)."""
    from celeriac.transport.base import LivenessChannel

    if not isinstance(channel, LivenessChannel):
        return None
    renewer = channel.liveness_renewer()
    if renewer is None:
        return None
    try:
        keeper = LeaseKeeper(renewer, interval)
        keeper.start()
    except (pickle.PicklingError, TypeError, AttributeError, OSError) as exc:
        logger.warning("No lease keeper (%s): leases are renewed by the worker's own thread, so "
                       "a task holding the GIL longer than the lease timeout may run twice", exc)
        return None
    return keeper


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the worker closed the lease keeper's pipe")
        data += chunk
    return data


def _worker_gone(fd: int, parent: int, wait: float) -> bool:
    """Wait up to ``wait`` s; True once the pipe closed or the parent is no longer ours."""
    if os.getppid() != parent:
        return True
    readable, _, _ = select.select([fd], [], [], wait)
    if readable and not os.read(fd, 1):
        return True
    return os.getppid() != parent


def run(fd: int = 0) -> int:
    """The keeper's main loop: renew, sleep ``interval``, until the worker goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the worker's to handle
    parent = os.getppid()
    try:
        size = int.from_bytes(_read_exactly(fd, _HEADER), "big")
        # Trusted: the stdin pipe is written only by the worker that started this process.
        renewer, interval = pickle.loads(_read_exactly(fd, size))  # noqa: S301
    except EOFError:
        return 0
    failing = False
    next_renewal = time.monotonic()
    try:
        while True:
            if _worker_gone(fd, parent, max(next_renewal - time.monotonic(), 0.0)):
                return 0
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + interval
            try:
                renewer.renew()
                failing = False
            except Exception as exc:  # the worker's heartbeat reports broker outages
                if not failing:
                    print(f"celeriac lease keeper: renewal failed: {exc!r}", file=sys.stderr)
                failing = True
    finally:
        with contextlib.suppress(Exception):
            renewer.close()


if __name__ == "__main__":
    sys.exit(run())
