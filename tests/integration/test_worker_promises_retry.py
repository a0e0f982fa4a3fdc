"""Issue 5, "Retries": retry/countdown/max_retries, autoretry with backoff, celeriac's backoff
rule for ``self.retry()`` without a countdown, hooks on ``base=`` classes and task signals.

Real ``celeriac worker`` processes on the embedded default and on Redis. Delays are judged from
the times each attempt recorded (lower bounds, and an upper bound only where the uncapped or
default delay would be several seconds longer).
"""

from __future__ import annotations

import itertools

import pytest

from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory, run_times, wait_for_state

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
@app.task(bind=True, max_retries=3)
def flaky(self, label, fails, countdown):
    note(label, time.time(), self.request.retries)
    if self.request.retries < fails:
        raise self.retry(countdown=countdown)
    return self.request.retries


@app.task(bind=True, max_retries=2)
def doomed(self, label, with_exc):
    note(label, time.time(), self.request.retries)
    raise self.retry(exc=KeyError("gone") if with_exc else None, countdown=0.1)


@app.task(bind=True, max_retries=None)
def forever(self, label, until):
    note(label, time.time(), self.request.retries)
    if self.request.retries < until:
        raise self.retry(countdown=0.05)
    return self.request.retries


@app.task(bind=True, default_retry_delay=0.6)
def default_delay(self, label):
    note(label, time.time(), self.request.retries)
    if self.request.retries < 1:
        raise self.retry()
    return "done"


@app.task(bind=True, autoretry_for=(ValueError,), retry_kwargs={"max_retries": 4},
          retry_backoff=0.4, retry_backoff_max=1.0, retry_jitter=False)
def auto(self, label, error="value"):
    note(label, time.time(), self.request.retries)
    if error == "type":
        raise TypeError("not in autoretry_for")
    raise ValueError(f"attempt {self.request.retries}")


@app.task(bind=True, retry_backoff=0.5, retry_jitter=False, max_retries=2)
def manual_backoff(self, label):
    note(label, time.time(), self.request.retries)
    if self.request.retries < 2:
        raise self.retry()
    return "backed off"
"""


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_retry_with_countdown_stores_retry_then_succeeds(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4", "-l", "info"):
        slow = mod.flaky.delay("slow", 1, 1.5)
        quick = mod.flaky.delay("quick", 3, 0.1)
        wait_for_state(slow, "RETRY", 20)
        assert slow.get(timeout=15) == 1
        assert slow.state == "SUCCESS"
        assert quick.get(timeout=15) == 3
    assert len(run_times(project, "slow")) == 2
    assert gaps(run_times(project, "slow"))[0] >= 1.4
    retries = [line.split()[2] for line in project.events_with("quick")]
    assert retries == ["0", "1", "2", "3"]


def test_past_max_retries_fails_with_exc_or_max_retries_exceeded(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4"):
        with_exc = mod.doomed.delay("with_exc", True)
        without = mod.doomed.delay("without", False)
        with pytest.raises(KeyError, match="gone"):
            with_exc.get(timeout=15)
        with pytest.raises(Exception) as info:
            without.get(timeout=15)
    assert type(info.value).__name__ == "MaxRetriesExceededError"
    assert with_exc.state == without.state == "FAILURE"
    # max_retries=2: the first run and two retries, then the failure.
    assert len(project.events_with("with_exc")) == len(project.events_with("without")) == 3


def test_max_retries_none_retries_past_the_default_limit(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    with project.worker("-P", "threads", "-c", "2"):
        assert project.module.forever.delay("forever", 6).get(timeout=15) == 6
    assert len(project.events_with("forever")) == 7


def test_default_retry_delay_applies_without_countdown(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    with project.worker("-P", "threads", "-c", "2"):
        assert project.module.default_delay.delay("default").get(timeout=15) == "done"
    (gap,) = gaps(run_times(project, "default"))
    assert gap >= 0.55


def test_autoretry_for_with_backoff_capped_and_no_jitter(make_project: ProjectFactory) -> None:
    project = make_project(TASKS)
    mod = project.module
    with project.worker("-P", "threads", "-c", "4"):
        retried = mod.auto.delay("auto")
        other = mod.auto.delay("other", error="type")
        with pytest.raises(TypeError):
            other.get(timeout=30)
        with pytest.raises(ValueError, match="attempt 4"):
            retried.get(timeout=20)
    # retry_kwargs max_retries=4: five runs; an exception outside autoretry_for: one run.
    assert len(project.events_with("other")) == 1
    delays = gaps(run_times(project, "auto"))
    assert len(delays) == 4
    # Celery's formula (issue 15): the factor is int(max(1, 0.4)) = 1, so 1, 2, 4, 8 s,
    # capped at retry_backoff_max=1: every delay is 1 s, without jitter never less.
    assert all(delay >= 0.95 for delay in delays)
    # Uncapped, the last delay would be 8 s.
    assert delays[3] < 2.6


def test_retry_without_countdown_uses_backoff_when_set(make_project: ProjectFactory) -> None:
    """celeriac, unlike Celery: retry_backoff applies to self.retry() without countdown/eta
    (Celery would wait default_retry_delay, 180 s)."""
    project = make_project(TASKS)
    with project.worker("-P", "threads", "-c", "2"):
        assert project.module.manual_backoff.delay("manual").get(timeout=15) == "backed off"
    delays = gaps(run_times(project, "manual"))
    assert len(delays) == 2
    assert delays[0] >= 0.45 and delays[1] >= 0.95


HOOKS = """
from celeriac import signals


class Hooked(app.Task):
    def before_start(self, task_id, args, kwargs):
        note("before_start", self.name.rsplit(".", 1)[-1], task_id)

    def on_success(self, retval, task_id, args, kwargs):
        note("on_success", self.name.rsplit(".", 1)[-1], task_id, retval)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        note("on_failure", self.name.rsplit(".", 1)[-1], task_id, type(exc).__name__)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        note("on_retry", self.name.rsplit(".", 1)[-1], task_id, type(exc).__name__)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        note("after_return", self.name.rsplit(".", 1)[-1], task_id, status)


@app.task(base=Hooked)
def good(x):
    return x * 2


@app.task(base=Hooked)
def bad():
    raise ZeroDivisionError("nope")


@app.task(base=Hooked, bind=True)
def again(self):
    if self.request.retries == 0:
        raise self.retry(exc=OSError("later"), countdown=0.1)
    return "second time"


def _short(task):
    return getattr(task, "name", str(task)).rsplit(".", 1)[-1]


@signals.task_prerun.connect
def _prerun(sender=None, task_id=None, task=None, **kw):
    note("task_prerun", _short(task), task_id)


@signals.task_postrun.connect
def _postrun(sender=None, task_id=None, task=None, state=None, **kw):
    note("task_postrun", _short(task), task_id, state)


@signals.task_success.connect
def _success(sender=None, result=None, **kw):
    note("task_success", _short(sender), sender.request.id, result)


@signals.task_failure.connect
def _failure(sender=None, task_id=None, exception=None, **kw):
    note("task_failure", _short(sender), task_id, type(exception).__name__)


@signals.task_retry.connect
def _retry(sender=None, request=None, reason=None, **kw):
    note("task_retry", _short(sender), request.id)


@signals.worker_ready.connect
def _ready(sender=None, **kw):
    note("worker_ready")


@signals.worker_shutdown.connect
def _shutdown(sender=None, **kw):
    note("worker_shutdown")


@signals.worker_process_init.connect
def _process_init(sender=None, **kw):
    note("worker_process_init")
"""


def kinds(project_events: list[str], task_id: str) -> list[str]:
    return [line.split()[0] for line in project_events if task_id in line.split()]


def test_hooks_on_base_class_and_task_signals(make_project: ProjectFactory) -> None:
    project = make_project(HOOKS)
    mod = project.module
    with project.worker("-P", "solo"):
        good = mod.good.delay(21)
        assert good.get(timeout=30) == 42
        bad = mod.bad.delay()
        with pytest.raises(ZeroDivisionError):
            bad.get(timeout=30)
    events = project.events()
    assert any(line.startswith(f"on_failure bad {bad.id} ZeroDivisionError") for line in events)
    assert any(line.startswith(f"task_postrun bad {bad.id} FAILURE") for line in events)
    assert any(line.startswith(f"after_return good {good.id} SUCCESS") for line in events)
    assert any(line.startswith(f"task_success good {good.id} 42") for line in events)
    # Celery 5's order (celery/app/trace.py): the hook, then its signal, then after_return,
    # then task_postrun.
    assert kinds(events, good.id) == [
        "task_prerun",
        "before_start",
        "on_success",
        "task_success",
        "after_return",
        "task_postrun",
    ]
    assert kinds(events, bad.id) == [
        "task_prerun",
        "before_start",
        "on_failure",
        "task_failure",
        "after_return",
        "task_postrun",
    ]


def test_retry_hooks_and_signals(make_project: ProjectFactory) -> None:
    project = make_project(HOOKS)
    with project.worker("-P", "solo"):
        again = project.module.again.delay()
        assert again.get(timeout=15) == "second time"
    events = project.events()
    assert any(line.startswith(f"on_retry again {again.id} OSError") for line in events)
    # No after_return for RETRY (Celery skips it for IGNORE_STATES).
    assert kinds(events, again.id) == [
        "task_prerun",
        "before_start",
        "on_retry",
        "task_retry",
        "task_postrun",
        "task_prerun",
        "before_start",
        "on_success",
        "task_success",
        "after_return",
        "task_postrun",
    ]


def test_worker_signals_ready_process_init_and_shutdown(make_project: ProjectFactory) -> None:
    project = make_project(HOOKS)
    # Queued before the worker starts: worker_ready must still come before any task runs
    # (Celery sends it before its event loop handles the first message).
    queued = project.module.good.delay(1)
    with project.worker("-P", "prefork", "-c", "2") as worker:
        assert queued.get(timeout=30) == 2
        assert worker.stop() == 0
    events = [line.split()[0] for line in project.events()]
    assert events.count("worker_ready") == 1
    assert events.count("worker_process_init") == 2
    assert events.count("worker_shutdown") == 1
    assert events.index("worker_ready") < events.index("task_prerun")
    assert events[-1] == "worker_shutdown"
    worker_pid = f"pid={worker.pid}"
    assert all(
        line.endswith(worker_pid)
        for line in project.events()
        if line.startswith(("worker_ready", "worker_shutdown"))
    )
    assert not any(
        line.endswith(worker_pid)
        for line in project.events()
        if line.startswith("worker_process_init")
    )
