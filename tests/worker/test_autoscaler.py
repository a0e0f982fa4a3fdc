"""The autoscaler's rules (Celery's), the ``--autoscale`` value and the pool commands' replies.

The autoscaler is driven one check at a time over a recording pool; the commands through
``ControlNode.dispatch`` with the recording ``FakeWorker`` view (replies as Celery shapes them).
The same paths against real workers: ``tests/integration/test_worker_pool_control.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured
from celeriac.worker.autoscale import Autoscaler, autoscaler_class, parse_autoscale
from celeriac.worker.control import ControlNode
from celeriac.worker.revoked import RevokedRegistry
from tests.worker.test_control_node import FakeWorker


class RecordingPool:
    """A ``ResizablePool`` that only counts."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.calls: list[tuple[str, int]] = []

    def grow(self, n: int = 1) -> None:
        self.calls.append(("grow", n))
        self.concurrency += n

    def shrink(self, n: int = 1) -> None:
        self.calls.append(("shrink", n))
        self.concurrency -= n


def _scaler(pool: RecordingPool, demand: list[int], keepalive: float = 60.0,
            maximum: int = 10, minimum: int = 2) -> Autoscaler:
    return Autoscaler(pool, maximum, minimum, demand=lambda: demand[0], keepalive=keepalive)


def test_grows_to_the_demand_up_to_max() -> None:
    pool, demand = RecordingPool(2), [5]
    scaler = _scaler(pool, demand)
    assert scaler.maybe_scale() and pool.concurrency == 5
    demand[0] = 50
    assert scaler.maybe_scale() and pool.concurrency == 10
    assert not scaler.maybe_scale()
    assert scaler.info() == {"max": 10, "min": 2, "current": 10, "qty": 50}


def test_shrinks_to_min_only_after_keepalive() -> None:
    pool, demand = RecordingPool(2), [6]
    scaler = _scaler(pool, demand, keepalive=0.2)
    scaler.maybe_scale()
    demand[0] = 0
    assert not scaler.maybe_scale() and pool.concurrency == 6  # busy a moment ago
    time.sleep(0.3)
    assert scaler.maybe_scale() and pool.concurrency == 2
    assert pool.calls == [("grow", 4), ("shrink", 4)]


def test_min_zero_keeps_one_process() -> None:
    pool, demand = RecordingPool(3), [0]
    scaler = _scaler(pool, demand, keepalive=0.01, minimum=0)
    time.sleep(0.02)
    scaler.maybe_scale()
    assert pool.concurrency == 1


def test_update_moves_the_range_at_once() -> None:
    pool, demand = RecordingPool(4), [0]
    scaler = _scaler(pool, demand)
    assert scaler.update(3, None) == (3, 2) and pool.concurrency == 3
    assert scaler.update(None, 5) == (3, 5) and pool.concurrency == 5
    with pytest.raises(ValueError):
        scaler.update(0, None)


def test_parse_autoscale() -> None:
    assert parse_autoscale("10,3") == (10, 3)
    assert parse_autoscale("4") == (4, 0)
    for bad in ("x", "3,5", "0", "2,-1"):
        with pytest.raises(ValueError):
            parse_autoscale(bad)


class MyScaler(Autoscaler):
    pass


def test_worker_autoscaler_setting() -> None:
    assert autoscaler_class("celery.worker.autoscale:Autoscaler") is Autoscaler
    assert autoscaler_class(MyScaler) is MyScaler
    assert autoscaler_class(f"{__name__}:MyScaler") is MyScaler
    with pytest.raises(ImproperlyConfigured):
        autoscaler_class("collections:OrderedDict")
    with pytest.raises(ImproperlyConfigured):
        autoscaler_class("no_such_module_here:Thing")


@pytest.fixture
def node() -> Iterator[tuple[ControlNode, FakeWorker]]:
    app = Celery("pool_commands", broker="memory://pool-commands", set_as_current=False)
    view = FakeWorker("w1@test", RevokedRegistry())
    yield ControlNode(app.transport.channel(), view), view
    app.close()


def test_pool_command_replies(node: tuple[ControlNode, FakeWorker]) -> None:
    control, view = node
    assert control.dispatch("pool_grow", {}) == {"ok": "pool will grow"}
    assert control.dispatch("pool_shrink", {"n": 2}) == {"ok": "pool will shrink"}
    assert control.dispatch("autoscale", {"max": 6, "min": 2}) == {
        "ok": "autoscale now max=6 min=2"}
    assert control.dispatch("pool_restart", {"modules": ["a"], "reload": True}) == {
        "ok": "reload started"}
    assert control.dispatch("add_consumer", {"queue": "q1", "exchange": "ex",
                                             "exchange_type": "topic",
                                             "routing_key": "k.#"}) == {"ok": "add consumer q1"}
    assert control.dispatch("cancel_consumer", {"queue": "q1"}) == {
        "ok": "no longer consuming from q1"}
    assert view.calls == [("pool_grow", 1), ("pool_shrink", 2), ("autoscale", (6, 2)),
                          ("pool_restart", (["a"], True)),
                          ("add_consumer", ("q1", "ex", "topic", "k.#")),
                          ("cancel_consumer", "q1")]


def test_autoscale_needs_a_pool_that_resizes() -> None:
    from celeriac.worker.worker import Worker, WorkerOptions

    app = Celery("autoscale_solo", broker="memory://autoscale-solo", set_as_current=False)
    try:
        with pytest.raises(ImproperlyConfigured, match="--autoscale needs a pool"):
            Worker(app, WorkerOptions(pool="solo", autoscale=(3, 1)))
        worker = Worker(app, WorkerOptions(pool="threads", autoscale=(3, 2)))
        assert worker.concurrency == 2 and worker.pool.concurrency == 2
        assert worker.scaling.autoscaler is not None
        assert worker.scaling.autoscaler.max_concurrency == 3
        worker.pool.stop(graceful=False, timeout=0)
    finally:
        app.close()
