"""celeriac against Celery 5 on the same Redis, in one run: drain, publish, latency, memory.

    .venv/bin/python -m bench.redis_vs_celery [--tasks 50000] [--redis redis://127.0.0.1:6379]

Both systems run with their default settings (solo pool, one process; pass --prefetch to
force a multiplier on both). Each gets its own Redis databases, flushed before use. Drain is
timed from a pre-filled queue: N trivial tasks, then a sentinel whose result marks the end
(one worker process, solo pool; FIFO means everything before it is done). Ratios are
celeriac / Celery for throughput and Celery / celeriac for latency, so > 1 means celeriac wins.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.common import BIN, comparison_parser, print_table, worker_process, write_project

SOURCE = """
from {package} import Celery
app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.update(result_expires=600, worker_hijack_root_logger=False)

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


def make_system(label: str, package: str, url: str, dbs: tuple[int, int],
                prefetch: int | None) -> System:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    name = f"bench_{label}"
    broker, backend = f"{url}/{dbs[0]}", f"{url}/{dbs[1]}"
    for db in dbs:
        redis.Redis.from_url(f"{url}/{db}").flushdb()
    write_project(workdir, name, SOURCE.format(package=package, name=name, broker=broker,
                                               backend=backend))
    module = importlib.import_module(name)
    common = ["-A", name, "worker", "-P", "solo", "-c", "1", "-l", "warning"]
    if prefetch is not None:
        common += ["--prefetch-multiplier", str(prefetch)]
    if package == "celery":
        cmd = [str(BIN / "celery"), *common, "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
    else:
        cmd = [str(BIN / "celeriac"), *common]
    return System(label, package, module, workdir, cmd)


def publish(system: System, count: int, task: str, batch: bool, many: bool = False) -> float:
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


def drain(system: System, count: int, task: str) -> float:
    """Seconds for one worker to drain ``count`` pre-published ``task`` messages.

    The queue is filled first (sentinel A, the tasks, sentinel B) with no worker running;
    the clock runs from A's result to B's, so worker start-up is not counted.
    """
    first = system.module.sentinel.delay()
    publish(system, count, task, batch=system.package == "celeriac")
    last = system.module.sentinel.delay()
    with system.worker("drain") as proc:
        first.get(timeout=60, interval=0.001)
        started = time.perf_counter()
        last.get(timeout=900, interval=0.001)
        seconds = time.perf_counter() - started
        assert proc.poll() is None
    return seconds


def latency(system: System, rounds: int) -> float:
    with system.worker("latency"):
        system.module.echo.delay(0).get(timeout=60)
        samples = []
        for i in range(rounds):
            started = time.perf_counter()
            system.module.echo.delay(i).get(timeout=10, interval=0.001)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def memory(system: System, count: int) -> tuple[float, float]:
    with system.worker("memory") as proc:
        system.module.sentinel.delay().get(timeout=60)
        process = psutil.Process(proc.pid)
        rss = lambda: sum(p.memory_info().rss for p in [process, *process.children(True)])  # noqa: E731
        idle = rss() / 2**20
        publish(system, count, "noop", system.package == "celeriac")
        system.module.sentinel.delay().get(timeout=900, interval=0.01)
        after = rss() / 2**20
    return idle, after


def main() -> None:
    args = comparison_parser(__doc__, "--redis", "redis://127.0.0.1:6379").parse_args()
    n = args.tasks
    nc = args.celery_tasks or max(1000, n // 5)
    celeriac_sys = make_system("celeriac", "celeriac", args.redis, (14, 15), args.prefetch)
    celery_sys = make_system("celery", "celery", args.redis, (12, 13), args.prefetch)
    rows: list[list[object]] = []

    def row(what: str, ours: float, theirs: float, higher_is_better: bool = True) -> None:
        ratio = ours / theirs if higher_is_better else theirs / ours
        rows.append([what, ours, theirs, f"{ratio:.1f}x"])
        print(f"  {what}: celeriac {ours:,.1f}  celery {theirs:,.1f}  ratio {ratio:.1f}x",
              file=sys.stderr, flush=True)

    ours = n / drain(celeriac_sys, n, "noop")
    theirs = nc / drain(celery_sys, nc, "noop")
    row("drain, results ignored (tasks/s)", ours, theirs)
    ours = n / drain(celeriac_sys, n, "echo")
    theirs = nc / drain(celery_sys, nc, "echo")
    row("drain, results stored (tasks/s)", ours, theirs)
    for system in (celeriac_sys, celery_sys):
        redis.Redis.from_url(f"{args.redis}/{14 if system is celeriac_sys else 12}").flushdb()
    ours = nc / publish(celeriac_sys, nc, "noop", batch=False)
    theirs = nc / publish(celery_sys, nc, "noop", batch=False)
    row("publish, delay() loop (tasks/s)", ours, theirs)
    ours = n / publish(celeriac_sys, n, "noop", batch=True)
    row("publish, publish_batch() vs Celery delay() loop (tasks/s)", ours, theirs)
    redis.Redis.from_url(f"{args.redis}/14").flushdb()
    ours = n / publish(celeriac_sys, n, "noop", batch=False, many=True)
    row("publish, delay_many() vs Celery delay() loop (tasks/s)", ours, theirs)
    for db in (12, 14):
        redis.Redis.from_url(f"{args.redis}/{db}").flushdb()
    row("round trip delay().get(), median (ms)", latency(celeriac_sys, args.rounds),
        latency(celery_sys, args.rounds), higher_is_better=False)
    idle_ours, after_ours = memory(celeriac_sys, n)
    idle_theirs, after_theirs = memory(celery_sys, nc)
    rows.append(["worker RSS idle (MiB)", idle_ours, idle_theirs, ""])
    rows.append([f"worker RSS after draining (MiB; celeriac {n:,}, celery {nc:,})",
                 after_ours, after_theirs, f"growth {after_ours - idle_ours:.1f} MiB"])
    print_table(f"Redis: celeriac vs Celery {importlib.import_module('celery').__version__}, "
                "one worker process, solo pool",
                ["what", "celeriac", "Celery", "ratio"], rows)


if __name__ == "__main__":
    main()
