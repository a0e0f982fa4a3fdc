"""celeriac against Celery 5 on the same Redis, in one run: drain, publish, latency, memory.

    .venv/bin/python -m bench.redis_vs_celery [--tasks 50000] [--redis URL] [--events-only]

Both systems run with their default settings (solo pool, one process; pass --prefetch to
force a multiplier on both). By default the run starts its own redis-server (free port, no
persistence) and stops it at the end; with ``--redis URL`` it uses that server and FLUSHES its
databases 12-15 (celeriac 14/15, Celery 12/13) between phases. Drain is
timed from a pre-filled queue: N trivial tasks, then a sentinel whose result marks the end
(one worker process, solo pool; FIFO means everything before it is done). Ratios are
celeriac / Celery for throughput and Celery / celeriac for latency, so > 1 means celeriac wins.

Task events (``-E``): each system drains the same results-ignored queue with and without
``-E``, in one run, and the cost of ``-E`` (1 - drain rate with / without) is printed for
both, by the wall clock and by the worker's CPU time per task (steady when the machine is
busy); ``--events-only`` runs just that part.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis

from bench.common import comparison_parser, write_project
from bench.redis_server import bench_redis
from bench.side_by_side import TASKS, Comparison, System, latency, publish, worker_command

SOURCE = """
from {package} import Celery
app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.update(result_expires=600, worker_hijack_root_logger=False)
""" + TASKS


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
    cmd = worker_command(package, name, prefetch)
    return System(label, package, module, workdir, cmd)


def drain(system: System, count: int, task: str) -> float:
    """Seconds for one worker to drain ``count`` pre-published ``task`` messages."""
    return timed_drain(system, count, task)[0]


def timed_drain(system: System, count: int, task: str) -> tuple[float, float]:
    """``(wall, cpu)`` seconds for one worker to drain ``count`` pre-published ``task``
    messages; ``cpu`` is the worker process's own CPU time (user + system, all threads).

    The queue is filled first (sentinel A, the tasks, sentinel B) with no worker running;
    the clocks run from A's result to B's, so worker start-up is not counted. CPU time is
    what a busy machine changes least: other processes slow the wall clock, not the work.
    """
    first = system.module.sentinel.delay()
    publish(system, count, task, batch=system.package == "celeriac")
    last = system.module.sentinel.delay()
    with system.worker("drain") as proc:
        worker = psutil.Process(proc.pid)
        first.get(timeout=60, interval=0.001)
        started, cpu_started = time.perf_counter(), _cpu(worker)
        last.get(timeout=900, interval=0.001)
        seconds, cpu = time.perf_counter() - started, _cpu(worker) - cpu_started
        assert proc.poll() is None
    return seconds, cpu


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


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


def events_cost(comparison: Comparison, systems: tuple[System, System],
                counts: tuple[int, int], repeat: int) -> None:
    """Drain rate with ``-E`` against without, per system; the cost is the rate lost.

    The two drains alternate ``repeat`` times and the best rate of each counts, so a burst
    of load on the machine does not land on one side only. The cost is given twice: by the
    wall clock (what the target is about, on a quiet machine) and by the worker's CPU time
    per task (tasks per CPU second), which load on the machine hardly moves.
    """
    rates: list[tuple[float, float, float, float]] = []  # wall and CPU rates, without/with
    for system, count in zip(systems, counts, strict=True):
        with_events = dataclasses.replace(system, worker_cmd=[*system.worker_cmd, "-E"])
        best = [0.0, 0.0, 0.0, 0.0]
        for _ in range(repeat):
            plain = timed_drain(system, count, "noop")
            evented = timed_drain(with_events, count, "noop")
            runs = [count / plain[0], count / evented[0], count / plain[1], count / evented[1]]
            print(f"  {system.label}: no -E {runs[0]:,.0f}/s ({runs[2]:,.0f}/CPU s), "
                  f"-E {runs[1]:,.0f}/s ({runs[3]:,.0f}/CPU s)", file=sys.stderr, flush=True)
            best = [max(old, new) for old, new in zip(best, runs, strict=True)]
        rates.append((best[0], best[1], best[2], best[3]))
    (ours, ours_e, ours_cpu, ours_cpu_e), (theirs, theirs_e, theirs_cpu, theirs_cpu_e) = rates
    comparison.row("drain, results ignored, no -E (tasks/s)", ours, theirs)
    comparison.row("drain, results ignored, -E (tasks/s)", ours_e, theirs_e)
    comparison.note("-E cost (1 - rate with -E / without)", f"{1 - ours_e / ours:.1%}",
                    f"{1 - theirs_e / theirs:.1%}", "celeriac target: <= 15%")
    comparison.note("-E cost in worker CPU per task", f"{1 - ours_cpu_e / ours_cpu:.1%}",
                    f"{1 - theirs_cpu_e / theirs_cpu:.1%}", "steady under machine load")


def main() -> None:
    parser = comparison_parser(
        __doc__, "--redis", None,
        "a Redis you own, e.g. redis://127.0.0.1:6379: its databases 12-15 are FLUSHED "
        "(default: a private redis-server, started and stopped by this run)",
    )
    parser.add_argument("--events-only", action="store_true",
                        help="only the -E cost: drains with and without task events")
    parser.add_argument("--events-repeat", type=int, default=3,
                        help="alternating drains with and without -E; the best of each counts")
    args = parser.parse_args()
    with bench_redis(args.redis) as url:
        compare(args, url)


def compare(args: argparse.Namespace, url: str) -> None:
    n = args.tasks
    nc = args.celery_tasks or max(1000, n // 5)
    celeriac_sys = make_system("celeriac", "celeriac", url, (14, 15), args.prefetch)
    celery_sys = make_system("celery", "celery", url, (12, 13), args.prefetch)
    comparison = Comparison()
    row = comparison.row
    version = importlib.import_module("celery").__version__
    events_cost(comparison, (celeriac_sys, celery_sys), (n, nc), args.events_repeat)
    if args.events_only:
        comparison.table(f"Redis: celeriac vs Celery {version}, -E cost, solo pool")
        return

    ours = n / drain(celeriac_sys, n, "echo")
    theirs = nc / drain(celery_sys, nc, "echo")
    row("drain, results stored (tasks/s)", ours, theirs)
    for system in (celeriac_sys, celery_sys):
        redis.Redis.from_url(f"{url}/{14 if system is celeriac_sys else 12}").flushdb()
    ours = nc / publish(celeriac_sys, nc, "noop", batch=False)
    theirs = nc / publish(celery_sys, nc, "noop", batch=False)
    row("publish, delay() loop (tasks/s)", ours, theirs)
    ours = n / publish(celeriac_sys, n, "noop", batch=True)
    row("publish, publish_batch() vs Celery delay() loop (tasks/s)", ours, theirs)
    redis.Redis.from_url(f"{url}/14").flushdb()
    ours = n / publish(celeriac_sys, n, "noop", batch=False, many=True)
    row("publish, delay_many() vs Celery delay() loop (tasks/s)", ours, theirs)
    for db in (12, 14):
        redis.Redis.from_url(f"{url}/{db}").flushdb()
    row("round trip delay().get(), median (ms)", latency(celeriac_sys, args.rounds),
        latency(celery_sys, args.rounds), higher_is_better=False)
    idle_ours, after_ours = memory(celeriac_sys, n)
    idle_theirs, after_theirs = memory(celery_sys, nc)
    comparison.note("worker RSS idle (MiB)", idle_ours, idle_theirs, "")
    comparison.note(f"worker RSS after draining (MiB; celeriac {n:,}, celery {nc:,})",
                    after_ours, after_theirs, f"growth {after_ours - idle_ours:.1f} MiB")
    comparison.table(f"Redis: celeriac vs Celery {version}, one worker process, solo pool")


if __name__ == "__main__":
    main()
