"""What the celeriac-vs-Celery benchmarks share: the two systems, publishing, latency, rows.

Each benchmark writes one small project per system (``TASKS`` below its own app line), runs
its worker as ``-P solo -c 1`` with each system's default settings, and collects rows of
``what | celeriac | Celery | ratio``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BIN, print_table, worker_process

#: The tasks both systems run; appended to a project's ``app = Celery(...)`` lines.
TASKS = """
@app.task(ignore_result=True)
def noop(i):
    return None

@app.task
def echo(i):
    return i

@app.task
def sentinel():
    return "done"
"""


@dataclass
class System:
    label: str
    package: str
    module: Any
    workdir: Path
    worker_cmd: list[str]

    def worker(self, tag: str) -> Any:
        return worker_process(self.worker_cmd, self.workdir, f"{self.label}-{tag}.log")


def worker_command(package: str, module: str, prefetch: int | None) -> list[str]:
    """One solo worker process; Celery without gossip, mingle and event heartbeats."""
    common = ["-A", module, "worker", "-P", "solo", "-c", "1", "-l", "warning"]
    if prefetch is not None:
        common += ["--prefetch-multiplier", str(prefetch)]
    if package == "celery":
        return [str(BIN / "celery"), *common, "--without-gossip", "--without-mingle",
                "--without-heartbeat"]
    return [str(BIN / "celeriac"), *common]


def publish(system: System, count: int, task: str, batch: bool, many: bool = False) -> float:
    """Seconds to send ``count`` calls: a ``delay()`` loop, in ``publish_batch()``, or
    ``delay_many()``."""
    fn: Callable[..., Any] = getattr(system.module, task).delay
    started = time.perf_counter()
    if many:
        getattr(system.module, task).delay_many((i,) for i in range(count))
    elif batch:
        with system.module.app.publish_batch():
            for i in range(count):
                fn(i)
    else:
        for i in range(count):
            fn(i)
    return time.perf_counter() - started


def latency(system: System, rounds: int) -> float:
    """Median milliseconds of ``echo.delay(i).get()``, one at a time, on a warm worker."""
    with system.worker("latency"):
        system.module.echo.delay(0).get(timeout=60)
        samples = []
        for i in range(rounds):
            started = time.perf_counter()
            system.module.echo.delay(i).get(timeout=10, interval=0.001)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


class Comparison:
    """Rows of celeriac against Celery; each is printed as it comes, the table at the end."""

    def __init__(self) -> None:
        self.rows: list[list[object]] = []

    def row(self, what: str, ours: float, theirs: float, higher_is_better: bool = True) -> None:
        """Ratios read "celeriac is N times better": throughput ours/theirs, latency theirs/ours."""
        ratio = ours / theirs if higher_is_better else theirs / ours
        self.rows.append([what, ours, theirs, f"{ratio:.1f}x"])
        print(f"  {what}: celeriac {ours:,.1f}  celery {theirs:,.1f}  ratio {ratio:.1f}x",
              file=sys.stderr, flush=True)

    def note(self, *cells: object) -> None:
        self.rows.append(list(cells))

    def table(self, title: str) -> str:
        return print_table(title, ["what", "celeriac", "Celery", "ratio"], self.rows)
