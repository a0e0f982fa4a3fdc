"""A chord of N header tasks into a sum: celeriac against Celery 5 on the same Redis, one run.

    .venv/bin/python -m bench.chord_vs_celery [--tasks 10000] [--redis URL]

By default the run starts its own redis-server (free port, no persistence) and stops it at the
end; with ``--redis URL`` it uses that server and FLUSHES its databases 2 and 3 before each
system's run. Each system gets one worker process (threads pool, 4 threads). The clock runs
from the first header message sent to the body's result read by the client, so it covers
publishing, running every header task, the chord join and the body. Ratio is Celery /
celeriac: > 1 means celeriac is faster.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import BIN, print_table, worker_process, write_project
from bench.redis_server import bench_redis

SOURCE = """
from {package} import Celery
app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.update(result_expires=600, worker_hijack_root_logger=False)

@app.task
def add(x, y):
    return x + y

@app.task
def xsum(values):
    return sum(values)
"""

SHIM = """
"""


def run_system(package: str, url: str, dbs: tuple[int, int], tasks: int) -> float:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-chord-{package}-"))
    name = f"bench_chord_{package}"
    broker, backend = f"{url}/{dbs[0]}", f"{url}/{dbs[1]}"
    for db in dbs:
        redis.Redis.from_url(f"{url}/{db}").flushdb()
    source = SOURCE.format(package=package, name=name, broker=broker, backend=backend)
    write_project(workdir, name, source + (SHIM if package == "celeriac" else ""))
    module: Any = importlib.import_module(name)
    common = ["-A", name, "worker", "-P", "threads", "-c", "4", "-l", "warning"]
    if package == "celery":
        cmd = [str(BIN / "celery"), *common, "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
        from celery import chord
    else:
        cmd = [str(BIN / "celeriac"), *common]
        from celeriac.canvas import chord  # type: ignore[assignment]
    root = str(Path(__file__).resolve().parent.parent)
    with worker_process(cmd, workdir, f"{package}.log", env={"PYTHONPATH": f"{workdir}:{root}"}):
        module.add.delay(0, 0).get(timeout=60)
        started = time.perf_counter()
        result = chord(module.add.s(i, i) for i in range(tasks))(module.xsum.s())
        total = result.get(timeout=1800, interval=0.01)
        seconds = time.perf_counter() - started
    assert total == sum(range(tasks)) * 2, total
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--redis", default=None,
                        help="a Redis you own, e.g. redis://127.0.0.1:6379: its databases 2 and "
                             "3 are FLUSHED (default: a private redis-server for this run)")
    args = parser.parse_args()
    with bench_redis(args.redis) as url:
        ours = run_system("celeriac", url, (2, 3), args.tasks)
        theirs = run_system("celery", url, (2, 3), args.tasks)
    print_table(
        f"Chord of {args.tasks:,} header tasks into a sum (Redis, 1 worker, 4 threads)",
        ["system", "seconds", "header tasks/s"],
        [["celeriac", ours, args.tasks / ours], ["Celery 5", theirs, args.tasks / theirs],
         ["ratio (Celery / celeriac)", theirs / ours, ""]],
    )


if __name__ == "__main__":
    main()
