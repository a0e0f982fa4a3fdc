"""A result is stored before its message is acknowledged, whatever the store does.

Issue 11, defect 3: the worker logged "Could not store N result(s)" and acknowledged anyway,
so with ``acks_late`` the message was gone and ``get()`` waited forever. Now a failed store
is retried as Celery's ``result_backend_*`` settings say, and once no retry is left the
message goes back to the broker (the task runs again) instead of being acknowledged.

The store here is the in-process one with a fault: its first ``failures`` writes raise what
an unreachable server raises. Only the failure is simulated; the records really are stored
and read back, and the broker's lease table says whether any message is still held.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends.memory import MemoryBackend
from celeriac.config.frozen import StoreRetryPolicy
from celeriac.config.options import store_retry_policy
from celeriac.exceptions import OperationalError
from celeriac.protocol.result_meta import ResultMeta
from celeriac.transport.memory import MemoryTransport
from celeriac.worker.worker import Worker, WorkerOptions
from tests.helpers import wait_until

FAST_RETRIES = {"result_backend_base_sleep_between_retries_ms": 1,
                "result_backend_max_sleep_between_retries_ms": 5}


class FailingStore(MemoryBackend):
    """The in-process store, whose first ``failures`` writes raise ``error``."""

    def __init__(self, name: str, failures: float, error: type[Exception]) -> None:
        super().__init__(name)
        self.failures = failures
        self.error = error
        self.attempts = 0
        self._lock = threading.Lock()

    def store(self, metas: Sequence[ResultMeta]) -> None:
        with self._lock:
            self.attempts += 1
            failing = self.attempts <= self.failures
        if failing:
            raise self.error("Result store at 127.0.0.1:1 is unreachable (simulated)")
        super().store(metas)


@dataclass
class Setup:
    app: Celery
    store: FailingStore
    worker: Worker
    runs: list[int] = field(default_factory=list)
    #: Open unless a test closes it: tasks wait at it before they finish.
    gate: threading.Event = field(default_factory=threading.Event)

    def leased(self) -> int:
        transport = self.app.transport
        assert isinstance(transport, MemoryTransport)
        with transport._broker.cond:
            return len(transport._broker.leased)

    def queued(self) -> int:
        return self.app.transport.channel().size("celery")


@contextmanager
def running(settings: dict[str, Any], failures: float,
            error: type[Exception] = OperationalError, pool: str = "solo") -> Iterator[Setup]:
    """A worker of one slot (multiplier 1) on ``memory://`` whose result store fails at first."""
    name = uuid.uuid4().hex
    app = Celery("retry", broker=f"memory://{name}", backend=f"cache+memory://{name}")
    app.conf.update(settings, worker_prefetch_multiplier=1)
    store = FailingStore(name, failures, error)
    app._backend = store  # the app's store (as resolved from the URL), with the fault
    worker = Worker(app, WorkerOptions(pool=pool, concurrency=1))
    setup = Setup(app, store, worker)
    setup.gate.set()

    @app.task(name="retry.work", acks_late=True)
    def work(n: int) -> int:
        setup.gate.wait(30)
        setup.runs.append(n)
        return n * 2

    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        yield setup
    finally:
        worker.stop()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


@pytest.mark.parametrize(("settings", "failures", "error", "attempts", "runs"), [
    # Celery's default: no retry. The message goes back and the task runs again.
    ({}, 1, OperationalError, 2, 2),
    # Retries within the budget: stored on the 4th attempt, the task ran once.
    ({"result_backend_always_retry": True, "result_backend_max_retries": 5, **FAST_RETRIES},
     3, OperationalError, 4, 1),
    # Old names work the same.
    ({"CELERY_RESULT_BACKEND_ALWAYS_RETRY": True, "CELERY_RESULT_BACKEND_MAX_RETRIES": 5,
      **FAST_RETRIES}, 3, OperationalError, 4, 1),
    # The budget used up (1 attempt + 2 retries): the message goes back, the re-run stores.
    ({"result_backend_always_retry": True, "result_backend_max_retries": 2, **FAST_RETRIES},
     3, OperationalError, 4, 2),
    # Not a connection problem: never retried, but still never acknowledged unstored.
    ({"result_backend_always_retry": True, **FAST_RETRIES}, 1, ValueError, 2, 2),
], ids=["no-retry", "retried", "old-names", "budget-used-up", "not-recoverable"])
def test_a_result_is_stored_before_its_message_is_acknowledged(
        settings: dict[str, Any], failures: int, error: type[Exception], attempts: int,
        runs: int) -> None:
    with running(settings, failures, error) as setup:
        result = setup.app.send_task("retry.work", (21,))
        assert result.get(timeout=10) == 42
        wait_until(lambda: setup.leased() == 0, 10, message="the message to be settled")
        assert setup.queued() == 0
        assert setup.store.attempts == attempts
        assert setup.runs == [21] * runs


def test_a_store_that_stays_down_holds_the_window_and_a_warm_shutdown_hands_back() -> None:
    """While results wait for the store, their messages stay leased and fill the window (no
    new work is fetched); a warm shutdown is not blocked by the retries and hands every
    message back to the broker, none acknowledged."""
    retry_forever = {"result_backend_always_retry": True, **FAST_RETRIES}
    with running(retry_forever, math.inf) as setup:
        for n in range(5):
            setup.app.send_task("retry.work", (n,))
        wait_until(lambda: setup.store.attempts >= 20, 10, message="retries under way")
        assert setup.runs == [0], "with multiplier 1, an unstored result holds the window"
        assert setup.leased() == 1
    assert setup.leased() == 0
    assert setup.queued() == 5, "every message is back on the broker"
    assert setup.worker.consumer is not None
    assert setup.worker.consumer.results.parked_messages == 0


def test_a_task_finishing_during_a_warm_shutdown_is_handed_back_when_unstorable() -> None:
    """The last results, completed after the shutdown began, are not parked for a retry
    that will never come: their messages go back to the broker."""
    retry_forever = {"result_backend_always_retry": True, **FAST_RETRIES}
    with running(retry_forever, math.inf, pool="threads") as setup:
        setup.gate.clear()
        setup.app.send_task("retry.work", (7,))
        wait_until(lambda: setup.worker.consumer is not None
                   and len(setup.worker.consumer.active) == 1, 10, message="the task to start")
        setup.worker.stop()
        wait_until(lambda: not any(t.name == "celeriac-consumer" for t in threading.enumerate()),
                   10, message="the consumer loop to end (the pool is still finishing)")
        setup.gate.set()
    assert setup.runs == [7]
    assert setup.store.attempts == 1
    assert setup.worker.consumer is not None
    assert setup.worker.consumer.results.parked_messages == 0
    assert setup.queued() == 1, "the message is back on the broker"


def test_retry_settings_map_to_celerys_policy() -> None:
    app = Celery("policy", broker="memory://")
    default = store_retry_policy(app.conf)
    assert default == StoreRetryPolicy(False, math.inf, 10.0, 10000.0)
    assert not default.may_retry(OperationalError("down"), 0), "off by default, as in Celery"
    app.conf.update(result_backend_always_retry=True, result_backend_max_retries=3,
                    result_backend_base_sleep_between_retries_ms=20,
                    result_backend_max_sleep_between_retries_ms=100)
    policy = store_retry_policy(app.conf)
    assert policy.may_retry(OperationalError("down"), 2)
    assert policy.may_retry(ConnectionRefusedError(), 0)
    assert not policy.may_retry(OperationalError("down"), 3), "max_retries used up"
    assert not policy.may_retry(ValueError("bad record"), 0), "not a recoverable error"
    random.seed(11)
    for retry in range(1, 12):
        ceiling = min(100.0, 20.0 * 2 ** retry) / 1000
        delays = [policy.delay(retry) for _ in range(50)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
    assert max(policy.delay(60) for _ in range(50)) <= 0.1
