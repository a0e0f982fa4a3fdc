"""Issue 5, "Concurrency at scale": 1,000 one-second sleeping tasks on ``-P threads -c 1000``
finish in a few seconds (bound: 30 s, where one at a time would take 1,000 s), and
``-P prefork -c 4`` runs sleeping tasks side by side in four children.

The clock runs in the test, from publishing to the last result, once the worker is ready.
The worker's own per-task overhead as concurrency grows is measured in
``bench/concurrency_overhead.py``.
"""

from __future__ import annotations

import time

import pytest

from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory, wait_ready

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
@app.task
def nap(n, seconds):
    time.sleep(seconds)
    return [n, os.getpid()]
"""


def test_thousand_one_second_tasks_on_a_thousand_threads(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "1000", "-l", "info") as worker:
        wait_ready(worker)
        started = time.monotonic()
        with mod.app.publish_batch():
            results = [mod.nap.delay(n, 1.0) for n in range(1000)]
        values = [result.get(timeout=60) for result in results]
        elapsed = time.monotonic() - started
    assert [n for n, _ in values] == list(range(1000))
    assert elapsed < 30, f"1,000 one-second tasks on 1,000 threads took {elapsed:.1f}s"


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_prefork_runs_tasks_side_by_side_in_its_children(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "prefork", "-c", "4", "-l", "info") as worker:
        wait_ready(worker)
        started = time.monotonic()
        with mod.app.publish_batch():
            results = [mod.nap.delay(n, 1.0) for n in range(8)]
        values = [result.get(timeout=30) for result in results]
        elapsed = time.monotonic() - started
    assert [n for n, _ in values] == list(range(8))
    assert len({pid for _, pid in values}) == 4
    assert elapsed < 6, f"8 one-second tasks on 4 children took {elapsed:.1f}s (8 s serially)"
