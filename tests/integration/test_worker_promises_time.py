"""Issue 5, "Time": countdown and ETA (aware, and naive in the app's timezone), expiry
(seconds and datetimes: not run, REVOKED, logged), soft limits on every pool, hard limits on
prefork (child killed and replaced, the worker goes on), per task, global and per call.

Real ``celeriac worker`` processes. Run times are recorded by the tasks themselves; a task must
never run before its ETA, and waits use generous deadlines.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = '''
from celeriac.exceptions import SoftTimeLimitExceeded


@app.task
def stamp(label):
    now = time.time()
    note(label, now)
    return now


def _spin(label, seconds):
    """A busy Python loop: threads/solo can only interrupt bytecode, not a C call."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            sum(range(500))
    except SoftTimeLimitExceeded:
        note(label, "caught")
        return ["caught", time.monotonic() - started]
    return ["not interrupted", time.monotonic() - started]


@app.task(soft_time_limit=0.3)
def soft_busy(label):
    return _spin(label, 15)


@app.task
def busy(label):
    return _spin(label, 15)


@app.task(time_limit=1)
def hang(label):
    note(label, "start")
    time.sleep(30)
    note(label, "finished")
    return "finished"


@app.task
def sleeper(label, seconds):
    note(label, "start")
    time.sleep(seconds)
    note(label, "finished")
    return "finished"


@app.task
def stubborn(label):
    """Catches the soft limit and goes on sleeping: only the hard limit can stop it."""
    note(label, "start")
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        note(label, "soft")
        time.sleep(30)
    note(label, "finished")
    return "finished"


@app.task
def pid():
    return os.getpid()
'''

SHANGHAI = """
app.conf.enable_utc = True
app.conf.timezone = "Asia/Shanghai"
"""


def test_countdown_and_eta_aware_and_naive_run_on_time(make_project: ProjectFactory) -> None:
    project = make_project(TASKS, conf=SHANGHAI)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4"):
        sent = time.time()
        now_result = mod.stamp.delay("now")
        countdown = mod.stamp.apply_async(("countdown",), countdown=2)
        aware = mod.stamp.apply_async(("aware",), eta=datetime.now(UTC) + timedelta(seconds=2))
        # Naive: read in the app's timezone (Asia/Shanghai, UTC+8), not as UTC. Misread, it
        # would be eight hours away and never run within the test.
        naive_eta = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
        naive = mod.stamp.apply_async(("naive",), eta=naive_eta + timedelta(seconds=2))
        assert now_result.get(timeout=30) >= sent
        for result in (countdown, aware, naive):
            ran_at = result.get(timeout=30)
            assert ran_at >= sent + 2 - 0.05, f"{result.id} ran {sent + 2 - ran_at:.2f}s early"
    assert sorted(line.split()[0] for line in project.events()) == [
        "aware",
        "countdown",
        "naive",
        "now",
    ]


def test_expired_tasks_are_not_run_marked_revoked_and_logged(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    now = datetime.now(UTC)
    with project.worker("-P", "threads", "-c", "4") as worker:
        already = mod.stamp.apply_async(("already",), expires=now - timedelta(seconds=1))
        # Due in 2 s but expiring after 1 s: expired when its time comes.
        seconds = mod.stamp.apply_async(("seconds",), countdown=2, expires=1)
        as_datetime = mod.stamp.apply_async(
            ("as_datetime",), countdown=2, expires=now + timedelta(seconds=1)
        )
        alive = mod.stamp.apply_async(("alive",), countdown=2, expires=60)
        alive.get(timeout=30)
        for result in (already, seconds, as_datetime):
            with pytest.raises(Exception) as info:
                result.get(timeout=30)
            assert type(info.value).__name__ == "TaskRevokedError"
            assert "expired" in str(info.value)
            assert result.state == "REVOKED"
        log = worker.log()
    for result in (already, seconds, as_datetime):
        line = next((li for li in log.splitlines() if result.id in li), "")
        assert "expired" in line, f"no log line says why {result.id} did not run:\n{log}"
    assert [line.split()[0] for line in project.events()] == ["alive"]


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_soft_time_limit_raises_inside_the_task(make_project: ProjectFactory, pool: str) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", pool, "-c", "2"):
        per_task = mod.soft_busy.delay("per_task")
        per_call = mod.busy.apply_async(("per_call",), soft_time_limit=0.3)
        for result in (per_task, per_call):
            outcome, elapsed = result.get(timeout=30)
            assert outcome == "caught"
            assert 0.25 <= elapsed < 10
    caught = [line.split()[:2] for line in project.events()]
    assert sorted(caught) == [["per_call", "caught"], ["per_task", "caught"]]


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_soft_limit_fires_in_threads_and_solo_only_between_bytecodes(
    make_project: ProjectFactory, pool: str
) -> None:
    """Documented limit: a task blocked in C (time.sleep) sees the soft limit when the call
    returns, not before; then it is raised and the task fails with SoftTimeLimitExceeded."""
    project = make_project(TASKS)
    with project.worker("-P", pool) as worker:
        result = project.module.sleeper.apply_async(("blocked", 1.5), soft_time_limit=0.3)
        with pytest.raises(Exception) as info:
            result.get(timeout=30)
        assert type(info.value).__name__ == "SoftTimeLimitExceeded"
        assert "SoftTimeLimitExceeded" in worker.log()
    assert [line.split()[1] for line in project.events()] == ["start"]


def test_hard_time_limit_kills_the_child_which_is_replaced(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "prefork", "-c", "1") as worker:
        before = mod.pid.delay().get(timeout=30)
        per_task = mod.hang.delay("per_task")
        with pytest.raises(Exception) as info:
            per_task.get(timeout=30)
        assert type(info.value).__name__ == "TimeLimitExceeded"
        assert per_task.state == "FAILURE"
        after = mod.pid.delay().get(timeout=30)
        assert after != before, "the killed child was not replaced"
        per_call = mod.sleeper.apply_async(("per_call", 30), time_limit=1)
        with pytest.raises(Exception) as info:
            per_call.get(timeout=30)
        assert type(info.value).__name__ == "TimeLimitExceeded"
        assert mod.pid.delay().get(timeout=30) not in (before, after)
        assert worker.process.poll() is None
        assert per_task.id in worker.log() and per_call.id in worker.log()
    assert [
        line.split()[1] for line in project.events() if line.split()[0] in ("per_task", "per_call")
    ] == ["start", "start"]


GLOBAL_LIMITS = {
    "new": "app.conf.task_time_limit = 1.5\napp.conf.task_soft_time_limit = 0.3\n",
    "old": "class OldConfig:\n    CELERYD_TASK_TIME_LIMIT = 1.5\n"
    "    CELERYD_TASK_SOFT_TIME_LIMIT = 0.3\n\napp.config_from_object(OldConfig)\n",
}


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
@pytest.mark.parametrize("names", ["new", "old"])
def test_global_time_limits_by_new_and_old_setting_names(
    make_project: ProjectFactory, names: str
) -> None:
    project = make_project(TASKS, conf=GLOBAL_LIMITS[names])
    mod = project.module
    with project.worker("-P", "prefork", "-c", "1"):
        result = mod.stubborn.delay("global")
        with pytest.raises(Exception) as info:
            result.get(timeout=30)
        assert type(info.value).__name__ == "TimeLimitExceeded"
        assert mod.pid.delay().get(timeout=30)
    assert [line.split()[1] for line in project.events()] == ["start", "soft"]
