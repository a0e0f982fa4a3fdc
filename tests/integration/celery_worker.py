"""A real ``celery worker -P solo`` subprocess for the interop tests, quick to react and to stop.

Celery's event loop (kombu's hub) sleeps in ``epoll`` for as long as its next timer allows, up
to 10 s; on AMQP the only timer is the heartbeat check (every 60 s). Two costs follow, both
measured here: a SIGTERM is only noticed when that sleep ends (every Celery worker took 10 s to
stop), and with ``-P solo`` a delivery that is already waiting is sometimes only taken at the
next wake-up (six queued tasks ran in 0.1 s, then 10 s, then 10 s later; the same with a Celery
client, so not a property of celeriac's messages). ``WAKEUP`` is appended to the Celery app
modules the tests write: a bootstep that arms a 50 ms no-op timer, so the loop wakes at least
every 50 ms. It changes when Celery looks at its socket and its shutdown flag, not what it does
with a message: the interop the tests check is untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import WorkerProcess, supervised

WAKEUP = """

# -- test harness: wake Celery's event loop every 50 ms (tests/integration/celery_worker.py) --
from celery import bootsteps as _bootsteps


class _Wakeup(_bootsteps.StartStopStep):
    requires = ("celery.worker.components:Hub",)

    def start(self, worker):
        if worker.hub is not None:
            worker.hub.call_repeatedly(0.05, lambda: None)


app.steps["worker"].add(_Wakeup)
"""


@contextmanager
def celery_worker(workdir: Path, module: str, queue: str, *extra: str,
                  name: str | None = None, heartbeat: bool = False,
                  gossip: bool = False) -> Iterator[WorkerProcess]:
    """``celery -A module worker -P solo -Q queue`` in ``workdir``, stopped by PID (SIGTERM).

    ``module`` should end with ``WAKEUP``; mingle, and unless asked gossip and event
    heartbeats, are off (nothing to meet in a vhost of one worker, and each costs start-up
    time). ``name`` (default: the
    module's) names the node and the log, for two workers of one module at once.
    ``heartbeat`` keeps Celery's heart, which sends ``worker-online``/``-heartbeat``/
    ``-offline`` events (the tests of event monitors need them); ``gossip`` keeps Celery's
    gossip (elections), which needs the heart too.
    """
    name = name or module
    log_path = workdir / f"celery-{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", module, "worker", "-P", "solo", "-Q", queue,
             "-n", f"{name}@%h", "--without-mingle", *(() if gossip else ("--without-gossip",)),
             *(() if heartbeat or gossip else ("--without-heartbeat",)), "-l", "info", *extra],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": f"{workdir}{os.pathsep}{os.getcwd()}"},
        )  # fmt: skip
    with supervised(WorkerProcess(process, log_path), f"celery worker {name}") as worker:
        yield worker
