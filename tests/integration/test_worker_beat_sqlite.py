"""``worker -B`` on the default SQLite file: the README's zero-setup path, end to end.

Beat used to check that its database file was SQLite by reading the header with a plain
``open()``. Closing that descriptor dropped every POSIX lock the worker process held on the
broker file, so the next client process to exit believed it had the last connection,
checkpointed and deleted the WAL the worker was still using: from then on the worker saw no
new tasks and wrote results into a file nobody else could read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
from celeriac import Celery

app = Celery({name!r})  # nothing configured: the embedded SQLite file ./celeriac.db
app.conf.beat_schedule = {{"tick": {{"task": {name!r} + ".add", "schedule": 0.5, "args": (0, 0)}}}}


@app.task
def add(x, y):
    return x + y
"""

CLIENT = """
import sys
from {name} import add

print(add.delay(int(sys.argv[1]), 1).get(timeout=20))
"""


def call_from_a_new_process(workdir: Path, name: str, x: int) -> str:
    """Send ``add(x, 1)`` from a separate client process, wait for its result, let it exit.

    The client's exit closes its last connection to the file: the moment the WAL got deleted.
    """
    done = subprocess.run(
        [sys.executable, "-c", CLIENT.format(name=name), str(x)],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
        env={"PYTHONPATH": str(workdir), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, f"client for add({x}, 1) failed:\n{done.stderr[-2000:]}"
    return done.stdout.strip()


def test_worker_with_beat_keeps_seeing_tasks_and_results_after_clients_exit(
    tmp_path: Path,
) -> None:
    name = unique_name("zerosetup")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    with running_worker(tmp_path, "-A", name, "worker", "-B", "-l", "INFO") as worker:
        # Beat has opened the broker file (its lease lives there) once it sends.
        wait_until(lambda: "Sending due task tick" in worker.log(), 30,
                   message="beat to check its lease and send")
        results = [call_from_a_new_process(tmp_path, name, x) for x in range(3)]
        assert results == ["1", "2", "3"]
        assert (tmp_path / "celeriac.db-wal").exists()
