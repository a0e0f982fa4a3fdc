"""Issue 11, defect 2: a task that holds the worker's GIL must not make peers re-run it.

The task calls ``sleep`` through ``ctypes.PyDLL``, which keeps the GIL for the whole call: the
worker's heartbeat thread cannot run, exactly like a long C loop. The lease is shortened to
2 s and the GIL held for 5 s, next to a second worker on the same broker. Without the lease
keeper process the second worker restores the message after 2 s and runs it again.

The kill -9 tests check the other side: the keeper must never keep a dead worker alive, and a
dead keeper is replaced.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.redis_server import private_redis

pytestmark = pytest.mark.slow

APP_SOURCE = """
import ctypes, os, time
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.celeriac_lease_timeout = 2.0
app.conf.celeriac_lease_heartbeat = 0.25
RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.txt")


@app.task
def hold_gil(seconds):
    with open(RUNS, "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    ctypes.PyDLL(None).sleep(int(seconds))  # PyDLL: the GIL is held for the whole call
    return os.getpid()


@app.task
def nap(seconds):
    with open(RUNS, "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    time.sleep(seconds)
    return os.getpid()
"""

KEEPER_LINE = re.compile(r"Lease keeper \(pid (\d+)\) renews")


@pytest.fixture(params=["sqlite", "redis"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    with ExitStack() as stack:
        if request.param == "redis":
            server = stack.enter_context(private_redis(tmp_path / "redis"))
            broker, backend = server.url(0), server.url(1)
        else:
            broker = backend = f"sqlite:///{tmp_path / 'broker.db'}"
        name = unique_name("lease_keeper")
        (tmp_path / f"{name}.py").write_text(
            APP_SOURCE.format(name=name, broker=broker, backend=backend))
        module: Any = import_app_module(tmp_path, name)
        stack.callback(module.app.close)
        yield name, module


def runs(tmp_path: Path) -> list[int]:
    path = tmp_path / "runs.txt"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def worker(tmp_path: Path, name: str, label: str, pool: str = "solo") -> Any:
    return running_worker(tmp_path, "-A", name, "worker", "-P", pool, "-c", "2", "-l", "info",
                          "-n", f"{label}@%h", name=label)


def keeper_pids(log: str) -> list[int]:
    return [int(pid) for pid in KEEPER_LINE.findall(log)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): it is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_task_holding_the_gil_past_the_lease_runs_once(
    project: tuple[str, Any], tmp_path: Path, pool: str
) -> None:
    name, mod = project
    with worker(tmp_path, name, "first", pool) as first:
        result = mod.hold_gil.delay(5)
        wait_until(lambda: runs(tmp_path), 30, message="the first worker to start the task")
        with worker(tmp_path, name, "second") as second:
            assert result.get(timeout=60) == first.pid
            # A warm shutdown lets a second run (if one started) finish and record itself.
            second.stop()
        first.stop()
    assert runs(tmp_path) == [first.pid], "the task ran again while its worker was alive"


def test_killed_worker_is_not_kept_alive_by_its_keeper(
    project: tuple[str, Any], tmp_path: Path
) -> None:
    name, mod = project
    with worker(tmp_path, name, "doomed") as doomed:
        wait_until(lambda: keeper_pids(doomed.log()), 30, message="the lease keeper to start")
        (keeper,) = keeper_pids(doomed.log())
        result = mod.nap.delay(3600)
        wait_until(lambda: runs(tmp_path), 30, message="the doomed worker to start the task")
        os.kill(doomed.pid, signal.SIGKILL)  # the worker alone: its keeper must notice
        doomed.process.wait(10)
        wait_until(lambda: not alive(keeper), 10, message="the keeper to exit with its worker")
    with worker(tmp_path, name, "survivor") as survivor:
        wait_until(lambda: survivor.pid in runs(tmp_path), 60,
                   message="the survivor to run the dead worker's message")
        os.kill(survivor.pid, signal.SIGKILL)  # do not wait an hour for the nap
        survivor.process.wait(10)
    assert result.state != "SUCCESS"  # the nap never finished: it ran twice only by restore


def test_a_killed_keeper_is_replaced(project: tuple[str, Any], tmp_path: Path) -> None:
    name, mod = project
    with worker(tmp_path, name, "worker") as running:
        wait_until(lambda: keeper_pids(running.log()), 30, message="the lease keeper to start")
        (keeper,) = keeper_pids(running.log())
        os.kill(keeper, signal.SIGKILL)
        wait_until(lambda: len(keeper_pids(running.log())) == 2, 30,
                   message="a new lease keeper")
        replacement = keeper_pids(running.log())[1]
        assert mod.nap.delay(0).get(timeout=30) == running.pid
        running.stop()
        wait_until(lambda: not alive(replacement), 10, message="the keeper to stop with its worker")
