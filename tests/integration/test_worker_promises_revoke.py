"""Issue 5, "Revoke": ``app.control.revoke(id)``, ``revoke(id, terminate=True, signal=...)``
and ``AsyncResult.revoke()``. A revoked task never starts (state REVOKED) on any worker,
including workers started after the revoke; a running one is ended with ``terminate``; and
revoked ids survive a restart with ``--statedb`` even where the broker no longer knows them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import (
    REDIS_BACKEND,
    Broker,
    Project,
    ProjectFactory,
    wait_for_state,
    wait_ready,
)

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
@app.task
def record(label):
    note(label, "run")
    return label


@app.task
def sleeper(label, seconds):
    note(label, "start")
    time.sleep(seconds)
    note(label, "end")
    return label


@app.task
def pid():
    return os.getpid()
"""


def assert_revoked(result: object, why: str = "revoked") -> None:
    with pytest.raises(Exception) as info:
        result.get(timeout=30)  # type: ignore[attr-defined]
    assert type(info.value).__name__ == "TaskRevokedError"
    assert why in str(info.value)
    assert result.state == "REVOKED"  # type: ignore[attr-defined]


def ran(project: Project) -> set[str]:
    return {line.split()[0] for line in project.events()}


def test_revoked_before_any_worker_started_never_runs(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    by_control = mod.record.delay("by_control")
    mod.app.control.revoke(by_control.id)
    by_result = mod.record.delay("by_result")
    by_result.revoke()
    fine = mod.record.delay("fine")
    with project.worker("-P", "threads", "-c", "2") as worker:
        assert fine.get(timeout=30) == "fine"
        assert_revoked(by_control)
        assert_revoked(by_result)
        log = worker.log()
    assert ran(project) == {"fine"}
    for result in (by_control, by_result):
        assert any(result.id in line and "revoked" in line for line in log.splitlines()), log


def test_revoke_reaches_running_workers_before_the_task_is_due(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS)
    mod = project.module
    with (
        project.worker("-P", "threads", "-c", "2", "-l", "info", "-n", "a@%h", name="a") as a,
        project.worker("-P", "solo", "-l", "info", "-n", "b@%h", name="b") as b,
    ):
        wait_ready(a)
        wait_ready(b)
        due_later = [mod.record.apply_async((f"later{n}",), countdown=2) for n in range(6)]
        for result in due_later:
            result.revoke()
        control = mod.record.apply_async(("control",), countdown=2)
        assert control.get(timeout=30) == "control"
        for result in due_later:
            assert_revoked(result)
    assert ran(project) == {"control"}


def test_terminate_ends_a_running_task_and_the_worker_goes_on(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "prefork", "-c", "1") as worker:
        first = mod.sleeper.delay("first", 30)
        wait_until(lambda: "first start" in " ".join(project.events()), 30, message="start")
        mod.app.control.revoke(first.id, terminate=True, signal="SIGTERM")
        assert_revoked(first, "terminated")
        second = mod.sleeper.delay("second", 30)
        wait_until(lambda: "second start" in " ".join(project.events()), 30, message="start")
        second.revoke(terminate=True, signal="SIGKILL")
        assert_revoked(second, "terminated")
        assert mod.pid.delay().get(timeout=30) > 0
        assert worker.process.poll() is None
    assert not [line for line in project.events() if line.split()[1] == "end"]


def other_broker(broker: Broker, tmp_path: Path) -> tuple[str, str]:
    """A broker that knows nothing of the first one's revocations (db 1 only, for Redis)."""
    if broker.kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'other.db'}"
        return url, url
    return REDIS_BACKEND, REDIS_BACKEND


def test_revoked_ids_survive_a_restart_with_statedb(
    make_project: ProjectFactory, broker: Broker, tmp_path: Path
) -> None:
    statedb = str(tmp_path / "worker.state")
    first = make_project(TASKS)
    with first.worker("-P", "solo", "-l", "info", "--statedb", statedb) as worker:
        wait_ready(worker)
        doomed = first.module.record.apply_async(("doomed",), countdown=1)
        doomed.revoke()
        assert_revoked(doomed)
    # The same worker (same --statedb) now serves a broker that never saw the revoke.
    second = make_project(TASKS, urls=other_broker(broker, tmp_path))
    resent = second.module.record.apply_async(("doomed",), task_id=doomed.id)
    fine = second.module.record.delay("fine")
    with second.worker("-P", "solo", "--statedb", statedb):
        assert fine.get(timeout=30) == "fine"
        wait_for_state(resent, "REVOKED", 30)
    assert ran(second) == {"fine"}


SIGNAL = """
from celeriac import signals


@signals.task_revoked.connect
def _revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kw):
    # As a Celery user writes it: request is the task's Context, sender the task.
    note("task_revoked", request.id, getattr(sender, "name", sender), terminated, expired)
"""


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_task_revoked_signal_for_revoked_expired_and_terminated(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS + SIGNAL)
    mod = project.module
    revoked = mod.record.delay("revoked")
    revoked.revoke()
    expired = mod.record.apply_async(("expired",), expires=-1)
    with project.worker("-P", "prefork", "-c", "1"):
        assert_revoked(revoked)
        assert_revoked(expired, "expired")
        running = mod.sleeper.delay("running", 30)
        wait_until(lambda: "running start" in " ".join(project.events()), 30, message="start")
        running.revoke(terminate=True)
        assert_revoked(running, "terminated")
    lines = {line.split()[1]: line.split()[2:5] for line in project.events_with("task_revoked")}
    record, sleeper = mod.record.name, mod.sleeper.name
    assert lines.get(revoked.id) == [record, "False", "False"], project.events()
    assert lines.get(expired.id) == [record, "False", "True"], project.events()
    assert lines.get(running.id) == [sleeper, "True", "False"], project.events()
