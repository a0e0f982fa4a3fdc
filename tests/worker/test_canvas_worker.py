"""Canvas end to end with an in-process worker (threads pool) on memory:// and SQLite.

Chains, links, errbacks, groups, chords (including a failing header and nested canvas),
chunks/map/starmap, and a 10,000-task chord whose body must run exactly once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.canvas import chain, chord, chunks, group, register_builtins, xmap, xstarmap
from celeriac.exceptions import ChordError
from celeriac.results.group_result import GroupResult
from celeriac.worker import prefetcher
from celeriac.worker.consumer import Consumer
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker

RUNS: dict[str, list[Any]] = {}
LOCK = threading.Lock()


def _record(key: str, value: Any) -> None:
    with LOCK:
        RUNS.setdefault(key, []).append(value)


def make_app(backend: str) -> Celery:
    app = Celery(f"canvas_{uuid.uuid4().hex[:6]}", broker=f"memory://{uuid.uuid4().hex}",
                 backend=backend, set_as_current=False)
    register_builtins(app)

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="t.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(name="t.xsum")
    def xsum(values: list[int]) -> int:
        return sum(values)

    @app.task(name="t.boom")
    def boom(*args: Any) -> None:
        raise ValueError(f"boom {args}")

    @app.task(name="t.body")
    def body(values: list[Any], key: str) -> int:
        _record(key, values)
        return len(values)

    @app.task(name="t.on_error")
    def on_error(request: Any, exc: BaseException, traceback: Any, key: str) -> None:
        _record(key, (request.id, type(exc).__name__))

    @app.task(name="t.on_error_id")
    def on_error_id(task_id: str, key: str) -> None:
        _record(key, task_id)

    @app.task(name="t.identity")
    def identity(x: Any) -> Any:
        return x

    return app


class _QuickStopWorker(Worker):
    """Polls for remote-control broadcasts every 50 ms instead of every second.

    A stop waits for the control thread's poll (0.2 s) and the prefetcher's fetch (0.2 s, see
    the fixture) to time out: that was most of every test here. These tests send no
    broadcasts, and a shorter fetch wait only means more (in-process) polling.
    """

    def setup(self) -> Consumer:
        consumer = super().setup()
        assert self.control_node is not None
        self.control_node.poll_timeout = 0.05
        return consumer


@pytest.fixture(params=["memory", "sqlite"])
def app(request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    monkeypatch.setattr(prefetcher, "FETCH_TIMEOUT", 0.05)
    backend = (f"cache+memory://{uuid.uuid4().hex}" if request.param == "memory"
               else f"sqlite:///{tmp_path / 'results.db'}")
    made = make_app(backend)
    with in_process_worker(made, worker_class=_QuickStopWorker, pool="threads", concurrency=4,
                           prefetch_multiplier=16):
        yield made


T = 20  # seconds per wait


def test_chain_passes_results(app: Celery) -> None:
    add, mul = app.tasks["t.add"], app.tasks["t.mul"]
    result = chain(add.s(1, 2), add.s(3), mul.s(10)).apply_async()
    assert result.get(timeout=T) == 60
    assert result.parent.get(timeout=T) == 6
    assert result.parent.parent.get(timeout=T) == 3
    assert (add.s(2, 2) | mul.si(5, 5)).delay().get(timeout=T) == 25


def test_chain_failure_stops_and_reports(app: Celery) -> None:
    add, boom = app.tasks["t.add"], app.tasks["t.boom"]
    key = uuid.uuid4().hex
    sig = chain(add.s(1, 1), boom.s(), add.s(5))
    sig.link_error(app.tasks["t.on_error"].s(key=key))
    result = sig.apply_async()
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=T)
    assert isinstance(result.parent.get(timeout=T, propagate=False), ValueError)
    assert result.parent.parent.get(timeout=T) == 2
    assert RUNS[key][0][1] == "ValueError"


def test_link_and_link_error(app: Celery) -> None:
    add, boom = app.tasks["t.add"], app.tasks["t.boom"]
    key, key2 = uuid.uuid4().hex, uuid.uuid4().hex
    follow = app.tasks["t.body"].si([1], key)
    res = add.apply_async((1, 2), link=follow)
    assert res.get(timeout=T) == 3
    failed = boom.apply_async(("x",), link_error=[app.tasks["t.on_error"].s(key=key2),
                                                   app.tasks["t.on_error_id"].s(key=key2)])
    with pytest.raises(ValueError):
        failed.get(timeout=T)
    _wait(lambda: key in RUNS and len(RUNS.get(key2, ())) == 2)
    assert sorted(map(str, RUNS[key2])) == sorted([str((failed.id, "ValueError")), failed.id])


def test_group_results_in_order(app: Celery) -> None:
    add = app.tasks["t.add"]
    result = group(add.s(i, i) for i in range(10)).apply_async()
    assert isinstance(result, GroupResult)
    assert result.get(timeout=T) == [i * 2 for i in range(10)]
    assert result.ready() and result.successful() and not result.failed()
    assert result.completed_count() == 10 and len(result) == 10
    result.save()
    restored = GroupResult.restore(str(result.id), app=app)
    assert restored is not None and [r.id for r in restored] == [r.id for r in result]
    assert group([]).apply_async().get(timeout=T) == []


def test_chord_runs_body_once_in_order(app: Celery) -> None:
    key = uuid.uuid4().hex
    add = app.tasks["t.add"]
    result = chord([add.s(i, i) for i in range(20)], app.tasks["t.body"].s(key))()
    assert result.get(timeout=T) == 20
    assert RUNS[key] == [[i * 2 for i in range(20)]]
    assert result.parent.get(timeout=T) == [i * 2 for i in range(20)]
    assert chord([], app.tasks["t.xsum"].s()).apply_async().get(timeout=T) == 0


def test_chord_header_failure_is_chord_error(app: Celery) -> None:
    """The body holds ``ChordError``; ``get()`` follows the parents to the header task's own
    exception first, as Celery's."""
    add, boom = app.tasks["t.add"], app.tasks["t.boom"]
    result = chord([add.s(1, 1), boom.s(), add.s(2, 2)], app.tasks["t.xsum"].s())()
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=T)
    with pytest.raises(ChordError, match=r"Dependency .* raised ValueError"):
        result.get(timeout=T, follow_parents=False)


def test_nested_canvas(app: Celery) -> None:
    add, mul, xsum = app.tasks["t.add"], app.tasks["t.mul"], app.tasks["t.xsum"]
    # group in a chain (upgraded to a chord), then a chain step after it
    res = chain(add.s(1, 1), group(mul.s(2), mul.s(3)), xsum.s(), add.s(100)).apply_async()
    assert res.get(timeout=T) == 110
    # chain in a group
    res2 = group(chain(add.s(1, 1), mul.s(10)), add.s(5, 5)).apply_async()
    assert res2.get(timeout=T) == [20, 10]
    # chord in a chain
    res3 = chain(add.s(2, 2), chord([mul.s(2), mul.s(3)], xsum.s()), mul.s(2)).apply_async()
    assert res3.get(timeout=T) == 40
    # chain in a chord header, group as a chord body
    res4 = chord([chain(add.s(1, 1), mul.s(3)), add.s(1, 2)], xsum.s())()
    assert res4.get(timeout=T) == 9


def test_chunks_map_starmap(app: Celery) -> None:
    add, identity = app.tasks["t.add"], app.tasks["t.identity"]
    assert xmap(identity.s(), [1, 2, 3]).apply_async().get(timeout=T) == [1, 2, 3]
    assert xstarmap(add.s(), [(1, 2), (3, 4)]).apply_async().get(timeout=T) == [3, 7]
    result = chunks(add.s(), [(i, i) for i in range(10)], 3).apply_async()
    assert result.get(timeout=T) == [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]


@pytest.mark.slow
@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_chord_of_10000(app: Celery) -> None:
    key = uuid.uuid4().hex
    add = app.tasks["t.add"]
    result = chord((add.s(i, 0) for i in range(10_000)), app.tasks["t.body"].s(key))()
    assert result.get(timeout=300) == 10_000
    assert len(RUNS[key]) == 1 and RUNS[key][0] == list(range(10_000))


def _wait(predicate: Any, timeout: float = T) -> None:
    from tests.helpers import wait_until

    wait_until(predicate, timeout=timeout, message="canvas side effect")
