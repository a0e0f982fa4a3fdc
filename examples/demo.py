"""The README's demo: a worker on the embedded default, tasks sent, results and timings printed.

Runs in a fresh temporary folder so it never touches your files, and stops its worker by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CELERIAC = Path(sys.executable).with_name("celeriac")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="celeriac-demo-"))
    shutil.copy(HERE / "tasks.py", workdir / "tasks.py")
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    log = open(workdir / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [str(CELERIAC), "-A", "tasks", "worker", "-l", "info", "-P", "threads", "-c", "4"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        return run_demo(workdir)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
        print(f"\nworker stopped (pid {worker.pid}); its log: {workdir / 'worker.log'}")


def run_demo(workdir: Path) -> int:
    from tasks import add, app, fail

    print(f"celeriac demo in {workdir}: broker and results in {app.broker_url}")
    started = time.perf_counter()
    result = add.delay(4, 4)
    print(f"add.delay(4, 4) -> {result.id}; ready: {result.ready()}")
    print(f"result.get(timeout=10) = {result.get(timeout=10)}  "
          f"(first round trip, worker start-up included: {time.perf_counter() - started:.2f}s)")
    try:
        fail.delay("boom").get(timeout=10)
    except ValueError as exc:
        print(f"fail.delay('boom').get() raised ValueError({exc}) as in Celery")
    count = 2000
    started = time.perf_counter()
    with app.publish_batch():
        results = [add.delay(i, i) for i in range(count)]
    published = time.perf_counter() - started
    values = [r.get(timeout=60) for r in results]
    total = time.perf_counter() - started
    assert values == [2 * i for i in range(count)], "wrong results"
    print(f"\n{'what':<34}{'seconds':>10}{'tasks/s':>12}")
    print(f"{'publish ' + str(count) + ' tasks (one batch)':<34}{published:>10.3f}"
          f"{count / published:>12,.0f}")
    print(f"{'publish + run + read all results':<34}{total:>10.3f}{count / total:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
