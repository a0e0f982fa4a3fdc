"""Issue 5, "Acknowledgement and delivery" and "Children": a prefork child dying mid-task
(``os._exit``) reports ``WorkerLostError`` unless ``acks_late`` + ``reject_on_worker_lost``
deliver it again; ``task_acks_on_failure_or_timeout=False`` sets a failed late-acked message
aside; ``max_tasks_per_child`` (flag, new and old setting names) and ``max_memory_per_child``
recycle children, seen through the pids tasks report.
"""

from __future__ import annotations

import pytest

from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = '''
@app.task(bind=True, acks_late=True, reject_on_worker_lost=True)
def die_once(self, label):
    """Dies the first time it runs (anywhere), succeeds when delivered again."""
    marker = os.path.join(HERE, label + ".died")
    note(label, "start")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return "delivered again"


@app.task(acks_late=True)
def die_late(label):
    note(label, "start")
    os._exit(3)


@app.task
def die_early(label):
    note(label, "start")
    os._exit(3)


@app.task(acks_late=True)
def fail_late(label):
    note(label, "start")
    raise ValueError("fails for " + label)


@app.task(acks_late=True, acks_on_failure_or_timeout=True)
def fail_late_acked(label):
    note(label, "start")
    raise ValueError("fails for " + label)


@app.task
def pid():
    return os.getpid()


HOG = []


@app.task
def hog(megabytes):
    HOG.append(b"x" * (megabytes << 20))  # written, so resident
    return os.getpid()
'''


def starts(project_events: list[str], label: str) -> int:
    return sum(1 for line in project_events if line.split()[:2] == [label, "start"])


def test_child_death_redelivers_with_reject_on_worker_lost_else_worker_lost_error(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "prefork", "-c", "2") as worker:
        redelivered = mod.die_once.delay("once")
        late = mod.die_late.delay("late")
        early = mod.die_early.delay("early")
        assert redelivered.get(timeout=30) == "delivered again"
        for result in (late, early):
            with pytest.raises(Exception) as info:
                result.get(timeout=30)
            assert type(info.value).__name__ == "WorkerLostError"
            assert "exited prematurely" in str(info.value)
            assert result.state == "FAILURE"
        assert mod.pid.delay().get(timeout=30) > 0, "the worker should go on"
        assert worker.process.poll() is None
    events = project.events()
    assert starts(events, "once") == 2
    assert starts(events, "late") == 1
    assert starts(events, "early") == 1


def test_acks_on_failure_or_timeout_false_sets_failed_message_aside(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS, conf="app.conf.task_acks_on_failure_or_timeout = False\n")
    mod = project.module
    with project.worker("-P", "threads", "-c", "2"):
        aside = mod.fail_late.delay("aside")
        acked = mod.fail_late_acked.delay("acked")
        for result in (aside, acked):
            with pytest.raises(ValueError):
                result.get(timeout=30)
            assert result.state == "FAILURE"
    letters = project.dead_letters()

    def set_aside(task_id: str) -> bool:
        return any(task_id in letter.payload.decode(errors="replace") for letter in letters)

    assert set_aside(aside.id), f"the failed message was not set aside: {letters}"
    assert not set_aside(acked.id)
    assert any("fails for aside" in letter.reason for letter in letters)
    assert starts(project.events(), "aside") == 1


MAX_TASKS = {
    "flag": ("", ("--max-tasks-per-child", "2")),
    "new": ("app.conf.worker_max_tasks_per_child = 2\n", ()),
    "old": (
        "class OldConfig:\n    CELERYD_MAX_TASKS_PER_CHILD = 2\n\n"
        "app.config_from_object(OldConfig)\n",
        (),
    ),
}


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["flag", "new", "old"])
def test_max_tasks_per_child_recycles_children(make_project: ProjectFactory, how: str) -> None:
    conf, flags = MAX_TASKS[how]
    project = make_project(TASKS, conf=conf)
    with project.worker("-P", "prefork", "-c", "1", *flags):
        pids = [project.module.pid.delay().get(timeout=30) for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len(set(pids)) == 3, pids


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_max_memory_per_child_replaces_a_child_over_the_limit(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    # 150 MB: well above an idle child, well below one holding 200 MB.
    with project.worker("-P", "prefork", "-c", "1", "--max-memory-per-child", "150000"):
        first = mod.pid.delay().get(timeout=30)
        assert mod.pid.delay().get(timeout=30) == first
        assert mod.hog.delay(200).get(timeout=30) == first
        replacement = mod.pid.delay().get(timeout=30)
        assert replacement != first
        assert mod.pid.delay().get(timeout=30) == replacement
