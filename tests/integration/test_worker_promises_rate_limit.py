"""Issue 5, "Rate limits": ``rate_limit='N/s' | 'N/m' | 'N/h'`` per task per worker; tasks over
the limit wait without blocking other tasks; the limit can be changed at run time with
``app.control.rate_limit``. Start times are recorded by the tasks (lower bounds only, except
where the old rate would take several seconds longer).
"""

from __future__ import annotations

import pytest

from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory, run_times, wait_ready

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
@app.task(rate_limit="2/s")
def limited(n):
    note("limited", time.time(), n)
    return n


@app.task(rate_limit="120/m")
def per_minute(n):
    note("per_minute", time.time(), n)
    return n


@app.task
def free(n):
    note("free", time.time(), n)
    return n
"""


def test_rate_limited_tasks_wait_without_blocking_others(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4", "-l", "info") as worker:
        wait_ready(worker)
        with mod.app.publish_batch():
            limited = [mod.limited.delay(n) for n in range(6)]
            per_minute = [mod.per_minute.delay(n) for n in range(6)]
            free = [mod.free.delay(n) for n in range(6)]
        assert [r.get(timeout=30) for r in free] == list(range(6))
        assert [r.get(timeout=30) for r in limited] == list(range(6))
        assert [r.get(timeout=30) for r in per_minute] == list(range(6))
    for name in ("limited", "per_minute"):  # 2/s and 120/m: one start every 0.5 s
        starts = sorted(run_times(project, name))
        assert starts[-1] - starts[0] >= 5 * 0.5 - 0.1, f"{name} ran faster than its limit"
    # The free tasks, queued after twelve limited ones, did not wait for them.
    assert max(run_times(project, "free")) < max(run_times(project, "limited"))


def test_rate_limit_changes_at_run_time(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4", "-l", "info") as worker:
        wait_ready(worker)
        with mod.app.publish_batch():
            before = [mod.limited.delay(n) for n in range(4)]
        assert [r.get(timeout=30) for r in before] == list(range(4))
        first_phase = sorted(run_times(project, "limited"))
        replies = mod.app.control.rate_limit(
            mod.limited.name, "100/s", reply=True, timeout=5, limit=1
        )
        assert replies, "the worker did not answer the rate_limit command"
        with mod.app.publish_batch():
            after = [mod.limited.delay(n) for n in range(10, 20)]
        assert [r.get(timeout=30) for r in after] == list(range(10, 20))
    assert first_phase[-1] - first_phase[0] >= 3 * 0.5 - 0.1
    second_phase = sorted(run_times(project, "limited"))[4:]
    # At the old 2/s, ten tasks would take 4.5 s or more.
    assert second_phase[-1] - second_phase[0] < 2.5
