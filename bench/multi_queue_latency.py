"""Round-trip latency on each queue of a worker consuming several Redis queues (issue 11, #9).

    .venv/bin/python -m bench.multi_queue_latency [--rounds 200] [--pools solo,threads,prefork]

Starts its own ``redis-server`` on a free port (stopped by PID), then for each pool a worker
with ``-Q hipri,celery`` and times ``echo.apply_async(queue=q).get()`` back to back on each
queue (median and 90th percentile, ms); a single-queue worker gives the reference. Before the
fix one of the two queues answered only at the worker's next poll (about 100-200 ms).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from bench.common import BIN, print_table, worker_process, write_project

SOURCE = """
from celeriac import Celery
app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.update(result_expires=600, worker_hijack_root_logger=False)

@app.task
def echo(i):
    return i
"""


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A throw-away ``redis-server`` (no persistence); yields its URL; stopped by PID."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server") or "redis-server"
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                "", "--appendonly", "no", "--dir", str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def round_trips(module: Any, queue: str, rounds: int) -> list[float]:
    """Milliseconds of each ``echo`` call on ``queue``, one at a time."""
    module.echo.apply_async((0,), queue=queue).get(timeout=60)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        module.echo.apply_async((i,), queue=queue).get(timeout=10, interval=0.001)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--pools", default="solo,threads,prefork")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-multiq-"))
    rows: list[list[object]] = []
    with private_redis(workdir) as url:
        name = "bench_multiq"
        write_project(workdir, name, SOURCE.format(name=name, broker=f"{url}/0",
                                                   backend=f"{url}/1"))
        module: Any = importlib.import_module(name)
        for pool in args.pools.split(","):
            for queues in ("celery", "hipri,celery"):
                cmd = [str(BIN / "celeriac"), "-A", name, "worker", "-P", pool, "-c", "2",
                       "-l", "warning", "-Q", queues]
                with worker_process(cmd, workdir, f"{pool}-{queues}.log"):
                    for queue in queues.split(","):
                        samples = round_trips(module, queue, args.rounds)
                        rows.append([pool, f"-Q {queues}", queue,
                                     round(statistics.median(samples), 2),
                                     round(p90(samples), 2)])
        module.app.close()
    print_table(f"Round trip per queue, {args.rounds} calls each (ms)",
                ["pool", "worker", "queue", "median", "p90"], rows)


if __name__ == "__main__":
    main()
