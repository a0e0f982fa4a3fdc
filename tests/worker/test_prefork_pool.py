"""The prefork pool driven directly: real forked children running real tasks.

Requests are built from ``build_v2`` messages, as the dispatcher would build them; outcomes
are collected through the pool's callback and waited for with a deadline.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, signals, states
from celeriac.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celeriac.execution.outcome import Disposition, Outcome, UnannouncedFailure
from celeriac.execution.request import Request
from celeriac.execution.runner import TaskRunner
from celeriac.execution.time_limits import ThreadSoftLimiter, resolve_time_limits
from celeriac.pools.base import PoolOptions
from celeriac.pools.prefork import PreforkPool
from celeriac.protocol.task_message import build_v2, decode_body
from celeriac.transport.base import Delivery

app = Celery("prefork_tests", broker="memory://")
ACCEPT = frozenset({"application/json"})


@app.task(name="t.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="t.boom")
def boom() -> None:
    raise ValueError("boom")


@app.task(name="t.pid")
def pid() -> int:
    return os.getpid()


@app.task(name="t.sleep")
def sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.task(name="t.sleep_late", acks_late=True, reject_on_worker_lost=True)
def sleep_late(seconds: float) -> None:
    time.sleep(seconds)


@app.task(name="t.soft")
def soft() -> str:
    try:
        time.sleep(5)
    except SoftTimeLimitExceeded:
        return "caught"
    return "not interrupted"


class Collector:
    """The pool's ``on_outcome`` callback, with a deadline-based wait."""

    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self._cond = threading.Condition()

    def __call__(self, request: Request, outcome: Outcome) -> None:
        with self._cond:
            self.outcomes[request.task_id] = outcome
            self._cond.notify_all()

    def wait(self, task_id: str, timeout: float = 10.0) -> Outcome:
        deadline = time.monotonic() + timeout
        with self._cond:
            while task_id not in self.outcomes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no outcome for {task_id} within {timeout}s")
                self._cond.wait(remaining)
            return self.outcomes[task_id]


_runners: dict[str, TaskRunner] = {}


def runner_for(name: str) -> TaskRunner:
    runner = _runners.get(name)
    if runner is None:
        runner = _runners[name] = TaskRunner(app, app.tasks[name], ACCEPT)
    return runner


def make_request(name: str, *args: Any, timelimit: tuple[float | None, float | None] = (None, None),
                 acks_late: bool = False) -> Request:
    task_id = str(uuid.uuid4())
    message = build_v2(task_name=name, task_id=task_id, args=args, kwargs={},
                       timelimit=timelimit, origin="test")
    delivery = Delivery(message=message, queue="celery", tag=task_id)
    return Request(delivery=delivery, task_name=name, task_id=task_id,
                   body=decode_body(message, ACCEPT), hostname="test@host", acks_late=acks_late)


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def make_pool() -> Iterator[Any]:
    pools: list[PreforkPool] = []

    def factory(concurrency: int = 1, **options: Any) -> tuple[PreforkPool, Collector]:
        pool = PreforkPool(PoolOptions(concurrency, **options))
        collector = Collector()
        pool.start(runner_for, collector)
        pools.append(pool)
        return pool, collector

    yield factory
    for pool in pools:
        pool.stop(graceful=False, timeout=1.0)


def run(pool: PreforkPool, collector: Collector, request: Request) -> Outcome:
    wait_until(lambda: pool.free_slots() > 0)
    pool.submit(request)
    return collector.wait(request.task_id)


def test_success_and_failure(make_pool: Any) -> None:
    pool, collector = make_pool(2)
    ok = run(pool, collector, make_request("t.add", 2, 3))
    assert ok.state == states.SUCCESS and ok.meta is not None and ok.meta.result == 5
    assert ok.disposition is Disposition.ACK
    bad = run(pool, collector, make_request("t.boom"))
    assert bad.state == states.FAILURE and bad.meta is not None
    assert bad.meta.result["exc_type"] == "ValueError"
    assert run(pool, collector, make_request("t.pid")).meta.result in pool.child_pids()  # type: ignore[union-attr]


def test_killed_child_reports_worker_lost_and_is_replaced(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    [victim] = pool.child_pids()
    request = make_request("t.sleep", 5)
    pool.submit(request)
    os.kill(victim, signal.SIGKILL)
    outcome = collector.wait(request.task_id)
    assert outcome.state == states.FAILURE and outcome.disposition is Disposition.ACK
    assert outcome.meta is not None
    assert outcome.meta.result["exc_type"] == "WorkerLostError"
    assert outcome.meta.result["exc_message"] == [
        f"Worker exited prematurely: signal 9 (SIGKILL) Job: {request.task_id}."
    ]
    after = run(pool, collector, make_request("t.pid"))
    assert after.state == states.SUCCESS and after.meta is not None
    assert after.meta.result != victim


def test_acks_late_reject_on_worker_lost_requeues(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    [victim] = pool.child_pids()
    request = make_request("t.sleep_late", 5, acks_late=True)
    pool.submit(request)
    os.kill(victim, signal.SIGKILL)
    outcome = collector.wait(request.task_id)
    assert outcome.disposition is Disposition.REQUEUE and outcome.meta is None


def test_max_tasks_per_child_recycles(make_pool: Any) -> None:
    pool, collector = make_pool(1, max_tasks_per_child=2)
    pids = [run(pool, collector, make_request("t.pid")).meta.result for _ in range(4)]  # type: ignore[union-attr]
    assert pids[0] == pids[1] and pids[2] == pids[3]
    assert pids[1] != pids[2]


def test_max_memory_per_child_recycles(make_pool: Any) -> None:
    pool, collector = make_pool(1, max_memory_per_child=1)  # 1 kB: every child is over it
    first = run(pool, collector, make_request("t.pid")).meta.result  # type: ignore[union-attr]
    second = run(pool, collector, make_request("t.pid")).meta.result  # type: ignore[union-attr]
    assert first != second


def test_soft_time_limit_is_catchable(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    outcome = run(pool, collector, make_request("t.soft", timelimit=(None, 0.2)))
    assert outcome.state == states.SUCCESS and outcome.meta is not None
    assert outcome.meta.result == "caught"


def test_hard_time_limit_kills_and_replaces(make_pool: Any) -> None:
    failures: list[BaseException] = []

    def on_failure(sender: Any = None, exception: BaseException | None = None,
                   **_: Any) -> None:
        assert exception is not None
        failures.append(exception)

    signals.task_failure.connect(on_failure)
    try:
        pool, collector = make_pool(1)
        [victim] = pool.child_pids()
        outcome = run(pool, collector, make_request("t.sleep", 5, timelimit=(0.3, None)))
    finally:
        signals.task_failure.disconnect(on_failure)
    assert outcome.state == states.FAILURE and outcome.disposition is Disposition.ACK
    assert outcome.meta is not None
    assert outcome.meta.result["exc_type"] == "TimeLimitExceeded"
    assert outcome.meta.result["exc_message"] == [0.3]
    # The pool runs no user code: it hands the failure the killed child could not announce
    # to the worker, which runs its hooks (test_prefork_failure_hooks.py).
    assert failures == []
    assert isinstance(outcome, UnannouncedFailure)
    assert isinstance(outcome.error, TimeLimitExceeded)
    after = run(pool, collector, make_request("t.pid"))
    assert after.meta is not None and after.meta.result != victim


def test_terminate_reports_revoked(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    request = make_request("t.sleep", 5)
    pool.submit(request)
    assert pool.terminate(request.task_id, signal.SIGTERM)
    assert not pool.terminate("no-such-task", signal.SIGTERM)
    outcome = collector.wait(request.task_id)
    assert outcome.state == states.REVOKED and outcome.meta is not None
    assert outcome.meta.result["exc_type"] == "TaskRevokedError"


def test_graceful_stop_waits_for_running_task(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    request = make_request("t.sleep", 0.3)
    pool.submit(request)
    queued = make_request("t.add", 1, 1)
    pool.submit(queued)  # no idle child: kept in the pool's queue
    unstarted = pool.stop(graceful=True, timeout=10)
    assert collector.outcomes[request.task_id].state == states.SUCCESS
    assert [r.task_id for r in unstarted] == [queued.task_id]
    assert pool.child_pids() == []


def test_cold_stop_requeues_running_task(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    request = make_request("t.sleep", 5)
    pool.submit(request)
    assert pool.stop(graceful=False, timeout=None) == []
    outcome = collector.outcomes[request.task_id]
    assert outcome.disposition is Disposition.REQUEUE


def test_resolve_time_limits_precedence() -> None:
    class Task:
        time_limit = 10
        soft_time_limit = None

    assert resolve_time_limits({"timelimit": [3, 2]}, Task, 99, 98).hard == 3
    limits = resolve_time_limits({"timelimit": [None, None]}, Task, 99, 98)
    assert (limits.hard, limits.soft) == (10, 98)
    assert resolve_time_limits({}, None, None, 0).soft is None


def test_thread_soft_limiter_interrupts_python_code() -> None:
    limiter = ThreadSoftLimiter()
    caught: list[bool] = []

    def busy() -> None:
        token = limiter.arm(0.1)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                pass
            caught.append(False)
        except SoftTimeLimitExceeded:
            caught.append(True)
        finally:
            limiter.disarm(token)

    thread = threading.Thread(target=busy)
    thread.start()
    thread.join(15)
    assert caught == [True]


def test_worker_process_init_runs_in_each_child(make_pool: Any, tmp_path: Any) -> None:
    marker = tmp_path / "inits"

    def on_init(sender: Any = None, **_: Any) -> None:
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")

    signals.worker_process_init.connect(on_init)
    try:
        pool, _ = make_pool(2)
    finally:
        signals.worker_process_init.disconnect(on_init)
    wait_until(lambda: marker.exists() and len(marker.read_text().split()) == 2)
    assert sorted(int(p) for p in marker.read_text().split()) == sorted(pool.child_pids())


def test_children_failing_to_start_are_respawned_with_backoff(make_pool: Any) -> None:
    def broken(sender: Any = None, **_: Any) -> None:
        os._exit(3)  # e.g. an init handler that cannot reach a required service

    signals.worker_process_init.connect(broken)
    try:
        pool, _ = make_pool(1)
        request = make_request("t.add", 1, 2)
        pool.submit(request)
        wait_until(lambda: pool._backoff.failed_starts >= 2)
    finally:
        signals.worker_process_init.disconnect(broken)
    assert pool.free_slots() == 0
    assert [r.task_id for r in pool.stop(graceful=True, timeout=1)] == [request.task_id]
