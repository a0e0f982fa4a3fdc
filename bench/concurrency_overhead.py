"""The worker's own overhead per task as concurrency grows (issue 5, "Concurrency at scale").

    .venv/bin/python -m bench.concurrency_overhead [--tasks 5000]

Each row: one ``celeriac worker`` on the embedded SQLite default with the given pool and
``-c``, started and warmed up first (one round trip). Then N trivial tasks (``return None``,
results ignored) are published in one batch with a sentinel task (result stored) last, and the
clock runs from the batch's commit until the sentinel's result is ready. The tasks do no work,
so the time per task is the worker's own cost: fetch, decode, hand-off to the pool, ack.

Two columns per row: wall-clock µs per task (1 / throughput; parallel pools overlap work, so
this can fall as ``-c`` grows) and CPU µs per task, the user+system time the worker process
and its children spent during the drain (Linux ``/proc``; the true per-task cost, which should
stay roughly flat as ``-c`` grows; rising numbers mean the pool's bookkeeping scales with its
size). Each row is the best of ``--repeat`` runs: the machine is shared.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BIN, print_table, worker_process, write_project

PROJECT = """
from celeriac import Celery
app = Celery("overheadproj")

@app.task(ignore_result=True)
def noop(i):
    return None

@app.task
def sentinel():
    return "done"
"""

CONFIGS: tuple[tuple[str, int], ...] = (
    ("threads", 1),
    ("threads", 10),
    ("threads", 100),
    ("threads", 1000),
    ("prefork", 1),
    ("prefork", 2),
    ("prefork", 4),
)


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of ``pid`` and its live children (0.0 where /proc is absent)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    total = 0.0
    for one in [pid, *(int(p) for p in out.split())]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def drain(mod: Any, workdir: Path, pool: str, concurrency: int,
          count: int) -> tuple[float, float]:
    """(wall seconds, worker CPU seconds) for one warm worker to run ``count`` queued tasks."""
    command = [str(BIN / "celeriac"), "-A", "overheadproj", "worker", "-P", pool,
               "-c", str(concurrency), "-l", "warning"]
    with worker_process(command, workdir, f"worker-{pool}-{concurrency}.log") as process:
        mod.sentinel.delay().get(timeout=120)  # started, children forked, connections open
        with mod.app.publish_batch():
            for i in range(count):
                mod.noop.delay(i)
            last = mod.sentinel.delay()
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        last.get(timeout=600, interval=0.005)
        wall = time.perf_counter() - started
        return wall, cpu_seconds(process.pid) - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="celeriac-overhead-"))
    write_project(workdir, "overheadproj", PROJECT)
    os.chdir(workdir)
    mod: Any = importlib.import_module("overheadproj")
    rows: list[list[object]] = []
    count = args.tasks
    for pool, concurrency in CONFIGS:
        runs = [drain(mod, workdir, pool, concurrency, count) for _ in range(args.repeat)]
        wall = min(w for w, _ in runs)
        cpu = min(c for _, c in runs)
        rows.append([f"-P {pool}", str(concurrency), float(count / wall),
                     f"{wall / count * 1e6:.0f}", f"{cpu / count * 1e6:.0f}"])
    cores = os.cpu_count() or 1
    print_table(f"Worker overhead per task, embedded SQLite default, {count:,} trivial "
                f"tasks, {cores} CPU(s)",
                ["pool", "-c", "tasks/s", "wall µs per task", "worker CPU µs per task"], rows)


if __name__ == "__main__":
    main()
