"""``worker_soft_shutdown_timeout`` (Celery 5.5): at cold shutdown, running tasks get a last
bounded period to finish instead of being abandoned at once."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.helpers import wait_until
from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import Project, ProjectFactory, wait_exit

pytestmark = pytest.mark.slow

broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = '''
@app.task
def job(n):
    note("start", n)
    time.sleep(3)
    note("end", n)
    return n
'''


def count(project: Project, word: str) -> Counter[int]:
    return Counter(int(line.split()[1]) for line in project.events_with(word))


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_cold_shutdown_lets_running_tasks_finish_within_the_soft_timeout(
    make_project: ProjectFactory, pool: str,
) -> None:
    project = make_project(TASKS, conf="app.conf.worker_soft_shutdown_timeout = 60.0")
    results = [project.module.job.delay(n) for n in range(2)]
    with project.worker("-P", pool, "-c", "2", "-l", "INFO") as worker:
        wait_until(lambda: len(count(project, "start")) == 2, 30, message="both tasks to start")
        worker.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "Warm shutdown" in worker.log(), 10, message="the warm shutdown")
        worker.process.send_signal(signal.SIGTERM)  # cold: without the setting, abandons them
        wait_until(lambda: "Initiating soft shutdown" in worker.log(), 10,
                   message="the soft shutdown")
        assert wait_exit(worker, 60) == 0
    assert count(project, "end") == Counter({0: 1, 1: 1})
    assert [result.get(timeout=10) for result in results] == [0, 1]
