"""Resizing pools while they run, driven directly (real forked children, real threads).

Shrinking never cuts a running task short; a child draining away still keeps the pool's
promises (hard time limit, WorkerLostError when killed); restart replaces every child.
"""

from __future__ import annotations

import os
import signal
from typing import Any, cast

import pytest

from celeriac import states
from celeriac.pools.base import PoolOptions, ResizablePool, RestartablePool
from celeriac.pools.prefork import PreforkPool
from celeriac.pools.solo import SoloPool
from celeriac.pools.threads import ThreadsPool
from tests.worker.test_prefork_pool import (
    Collector,
    make_pool,
    make_request,
    runner_for,
    wait_until,
)

__all__ = ["make_pool"]  # the fixture, bound here so pytest finds it


def _live(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def test_prefork_grows_then_shrinks_idle_children(make_pool: Any) -> None:
    pool, collector = make_pool(1)
    assert isinstance(cast(object, pool), ResizablePool)
    pool.grow(2)
    assert pool.concurrency == 3
    wait_until(lambda: len(pool.child_pids()) == 3 and pool.free_slots() == 3)
    first = pool.child_pids()
    pool.shrink(2)
    assert pool.concurrency == 1
    wait_until(lambda: len(pool.child_pids()) == 1)
    assert not _live([pid for pid in first if pid not in pool.child_pids()])
    request = make_request("t.pid")
    pool.submit(request)
    assert collector.wait(request.task_id).state == states.SUCCESS


def test_prefork_shrink_lets_busy_children_finish(make_pool: Any) -> None:
    pool, collector = make_pool(3)
    requests = [make_request("t.sleep", 1.0) for _ in range(3)]
    for request in requests:
        pool.submit(request)
    wait_until(lambda: pool.free_slots() == 0)
    pool.shrink(2)  # every child is busy: two of them retire after their task
    outcomes = [collector.wait(r.task_id) for r in requests]
    assert [o.state for o in outcomes] == [states.SUCCESS] * 3
    wait_until(lambda: len(pool.child_pids()) == 1)
    follow_up = make_request("t.pid")
    pool.submit(follow_up)
    assert collector.wait(follow_up.task_id).state == states.SUCCESS


def test_draining_child_keeps_hard_time_limit_and_worker_lost(make_pool: Any) -> None:
    pool, collector = make_pool(2)
    limited = make_request("t.sleep", 30, timelimit=(1.0, None))
    lost = make_request("t.sleep", 30)
    pool.submit(limited)
    pool.submit(lost)
    wait_until(lambda: pool.free_slots() == 0)
    pool.restart()  # both children drain: still busy
    victim = next(pid for pid in pool.child_pids()
                  if pid != _pid_running(pool, limited.task_id))
    os.kill(victim, signal.SIGKILL)
    timed_out = collector.wait(limited.task_id, timeout=15)
    assert timed_out.meta is not None and timed_out.meta.result["exc_type"] == "TimeLimitExceeded"
    killed = collector.wait(lost.task_id, timeout=15)
    assert killed.meta is not None and killed.meta.result["exc_type"] == "WorkerLostError"
    wait_until(lambda: len(pool.child_pids()) == 2 and pool.free_slots() == 2)


def _pid_running(pool: PreforkPool, task_id: str) -> int:
    with pool._lock:
        return next(c.pid for c in pool._children if c.job is not None
                    and c.job.task_id == task_id)


def test_prefork_restart_replaces_every_child(make_pool: Any) -> None:
    pool, collector = make_pool(2)
    assert isinstance(cast(object, pool), RestartablePool)
    before = set(pool.child_pids())
    pool.restart()
    wait_until(lambda: len(pool.child_pids()) == 2 and not before & set(pool.child_pids())
               and pool.free_slots() == 2)
    request = make_request("t.pid")
    pool.submit(request)
    outcome = collector.wait(request.task_id)
    assert outcome.meta is not None and outcome.meta.result not in before


def test_prefork_refuses_to_shrink_below_one(make_pool: Any) -> None:
    pool, _ = make_pool(2)
    with pytest.raises(ValueError, match="keeps at least one"):
        pool.shrink(2)
    assert pool.concurrency == 2


def test_threads_pool_grows_and_shrinks() -> None:
    pool = ThreadsPool(PoolOptions(concurrency=1))
    collector = Collector()
    pool.start(runner_for, collector)
    try:
        assert isinstance(cast(object, pool), ResizablePool)
        pool.grow(2)
        assert pool.free_slots() == 3
        requests = [make_request("t.sleep", 0.5) for _ in range(3)]
        for request in requests:
            pool.submit(request)
        assert len({t.name for t in pool._threads if t.is_alive()}) == 3
        assert all(collector.wait(r.task_id).state == states.SUCCESS for r in requests)
        pool.shrink(2)
        assert pool.concurrency == 1
        wait_until(lambda: len(pool._threads) == 1)
        last = make_request("t.add", 1, 2)
        pool.submit(last)
        assert collector.wait(last.task_id).state == states.SUCCESS
    finally:
        pool.stop(graceful=True, timeout=5)


def test_solo_pool_cannot_resize() -> None:
    assert not isinstance(SoloPool(PoolOptions()), ResizablePool)
