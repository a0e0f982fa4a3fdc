"""Issue 5, "Shutdown": warm on the first SIGTERM/SIGINT (running tasks finish, unstarted
messages go back, exit 0), cold on a second signal (stop now, nothing unacknowledged is lost),
SIGQUIT immediate.

Scaled from the issue's "100 queued 1-second tasks" to 32 0.4-second tasks on ``-P threads
-c 4`` so a run takes seconds; the spirit is kept: stop mid-way, a new worker finishes the
rest, every task ran, and none twice unless it was interrupted. Tasks record ``start``/``end``
lines with the worker's node name in events.txt.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.helpers import wait_until
from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import Project, ProjectFactory, wait_exit

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = '''
@app.task(bind=True)
def job(self, n, seconds):
    note("start", n, self.request.hostname)
    time.sleep(seconds)
    note("end", n, self.request.hostname)
    return n


@app.task(bind=True, acks_late=True)
def long_job(self, n):
    """Long on the first worker (so a shutdown interrupts it), quick elsewhere."""
    note("start", n, self.request.hostname)
    time.sleep(12 if self.request.hostname.startswith("first@") else 0.2)
    note("end", n, self.request.hostname)
    return n
'''


def count(project: Project, word: str) -> Counter[int]:
    return Counter(int(line.split()[1]) for line in project.events_with(word))


def interrupted(project: Project) -> set[int]:
    """Tasks that started on a worker but never ended there."""
    ended = {tuple(line.split()[1:3]) for line in project.events_with("end")}
    return {
        int(line.split()[1])
        for line in project.events_with("start")
        if tuple(line.split()[1:3]) not in ended
    }


@pytest.mark.parametrize(
    ("broker", "signum"),
    [
        ("sqlite", signal.SIGTERM),
        ("redis", signal.SIGTERM),
        ("sqlite", signal.SIGINT),
    ],
    ids=["sqlite-TERM", "redis-TERM", "sqlite-INT"],
    indirect=["broker"],
)
def test_warm_shutdown_mid_way_then_a_new_worker_finishes_the_rest(
    make_project: ProjectFactory, signum: int
) -> None:
    project = make_project(TASKS)
    mod = project.module
    total = 32
    with mod.app.publish_batch():
        results = [mod.job.delay(n, 0.4) for n in range(total)]
    with project.worker("-P", "threads", "-c", "4", "-n", "first@%h", name="first") as first:
        wait_until(
            lambda: sum(count(project, "end").values()) >= 8,
            30,
            message="eight tasks done on the first worker",
        )
        assert first.stop(signum) == 0
    assert sum(count(project, "end").values()) < total, "stopped too late to prove anything"
    assert interrupted(project) == set(), "a warm shutdown must let running tasks finish"
    with project.worker("-P", "threads", "-c", "4", "-n", "second@%h", name="second"):
        assert [r.get(timeout=60) for r in results] == list(range(total))
    assert count(project, "start") == Counter(range(total)), "each task must run exactly once"
    assert count(project, "end") == Counter(range(total))


def test_second_sigterm_is_a_cold_shutdown_that_loses_nothing(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    total = 10
    with mod.app.publish_batch():
        results = [mod.long_job.delay(n) for n in range(total)]
    with project.worker("-P", "prefork", "-c", "2", "-n", "first@%h", name="first") as first:
        wait_until(
            lambda: sum(count(project, "start").values()) >= 2,
            30,
            message="two long tasks running on the first worker",
        )
        first.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "Warm shutdown" in first.log(), 10, message="the warm shutdown")
        first.process.send_signal(signal.SIGTERM)
        # The running tasks would take 12 s: cold means the worker does not wait for them.
        assert wait_exit(first, 6) is not None, "the second SIGTERM did not stop the worker"
    lost_there = interrupted(project)
    assert len(lost_there) == 2
    with project.worker("-P", "prefork", "-c", "2", "-n", "second@%h", name="second"):
        assert [r.get(timeout=60) for r in results] == list(range(total))
    starts = count(project, "start")
    assert count(project, "end") == Counter(range(total))
    assert {n for n, runs in starts.items() if runs > 1} == lost_there
    assert all(starts[n] == 2 for n in lost_there)


@pytest.mark.parametrize("broker", ["sqlite", "redis"], indirect=True)
def test_sigquit_stops_at_once_and_the_task_runs_elsewhere(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    result = mod.long_job.delay(7)
    with project.worker("-P", "threads", "-c", "2", "-n", "first@%h", name="first") as first:
        wait_until(lambda: count(project, "start")[7] == 1, 30, message="the task to start")
        first.process.send_signal(signal.SIGQUIT)
        code = wait_exit(first, 5)
        assert code is not None and code != 0, "SIGQUIT must stop the worker at once"
    with project.worker("-P", "threads", "-c", "2", "-n", "second@%h", name="second"):
        assert result.get(timeout=30) == 7
    assert count(project, "start")[7] == 2
    assert interrupted(project) == {7}
