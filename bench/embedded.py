"""Publish and drain throughput on the embedded SQLite default, one worker process.

    .venv/bin/python bench/embedded.py [--tasks 20000]

Drain is measured from a full queue: N trivial tasks (results ignored) are published with no
worker running, a sentinel task with a result goes last, then one worker starts; the clock
stops when the sentinel's result is ready. Worker start-up time is measured separately and
subtracted.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BIN, print_table, worker_process, write_project

PROJECT = """
from celeriac import Celery
app = Celery("benchproj")

@app.task(ignore_result=True)
def noop(i):
    return None

@app.task
def sentinel():
    return "done"
"""


def drain_seconds(mod: Any, workdir: Path, pool: str, count: int) -> tuple[float, float]:
    """Return (startup seconds, drain seconds) for ``count`` queued tasks."""
    with mod.app.publish_batch():
        mod.sentinel.delay()
    started = time.perf_counter()
    with worker_process([str(BIN / "celeriac"), "-A", "benchproj", "worker", "-P", pool,
                         "-l", "warning"],
                        workdir, f"worker-{pool}-warm.log"):
        mod.sentinel.delay().get(timeout=120)
        startup = time.perf_counter() - started
        with mod.app.publish_batch():
            for i in range(count):
                mod.noop.delay(i)
            last = mod.sentinel.delay()
        drained_from = time.perf_counter()
        last.get(timeout=600, interval=0.01)
        return startup, time.perf_counter() - drained_from


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="celeriac-bench-"))
    write_project(workdir, "benchproj", PROJECT)
    import os

    os.chdir(workdir)
    mod: Any = importlib.import_module("benchproj")
    count = args.tasks
    started = time.perf_counter()
    for i in range(count):
        mod.noop.delay(i)
    delay_loop = count / (time.perf_counter() - started)
    mod.app.transport.channel().purge("celery")
    started = time.perf_counter()
    with mod.app.publish_batch():
        for i in range(count):
            mod.noop.delay(i)
    batch = count / (time.perf_counter() - started)
    mod.app.transport.channel().purge("celery")
    rows: list[list[object]] = [["publish: delay() loop", float(delay_loop)],
                                ["publish: publish_batch()", float(batch)]]
    for pool in ("solo", "threads"):
        _, seconds = drain_seconds(mod, workdir, pool, count)
        rows.append([f"drain: one worker, -P {pool}", count / seconds])
    print_table(f"Embedded SQLite default, {count:,} trivial tasks", ["what", "tasks/s"], rows)


if __name__ == "__main__":
    main()
