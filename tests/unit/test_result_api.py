"""Celery 5.7's result API on celeriac's result handles, over the in-memory store: ``get``'s
hooks, ``ignored``, ``then``, ``collect``/``iterdeps``/``build_graph``, ``ResultSet``'s
container and join shapes, and ``app.backend.as_uri`` compared with real Celery's."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.exceptions import ImproperlyConfigured, IncompleteStream, TimeoutError
from celeriac.result import AsyncResult, GroupResult, ResultSet
from celeriac.results.graph import DependencyGraph


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("resapi", broker="memory://", backend="cache+memory://", set_as_current=False)
    yield app
    app.close()


def _done(app: Celery, value: Any, state: str = states.SUCCESS, children: Any = None) -> str:
    task_id = uuid.uuid4().hex
    request = type("R", (), {"children": children})() if children else None
    app.backend.store_result(task_id, value, state, request=request)  # type: ignore[attr-defined]
    return task_id


def test_get_hands_callback_and_on_message_what_celery_does(app: Celery) -> None:
    result = AsyncResult(_done(app, 7), app=app)
    calls: list[tuple[str, Any]] = []
    messages: list[dict[str, Any]] = []
    intervals: list[int] = []
    assert result.get(callback=lambda tid, value: calls.append((tid, value)),
                      on_message=messages.append, on_interval=lambda: intervals.append(1)) == 7
    assert calls == [(result.id, 7)]
    assert messages[0]["status"] == states.SUCCESS and messages[0]["result"] == 7


def test_get_on_interval_runs_while_waiting_then_times_out(app: Celery) -> None:
    ticks: list[int] = []
    with pytest.raises(TimeoutError):
        AsyncResult("never-" + uuid.uuid4().hex, app=app).get(
            timeout=0.05, interval=0.01, on_interval=lambda: ticks.append(1))
    assert ticks


def test_failed_parent_raises_unless_follow_parents_is_off(app: Celery) -> None:
    parent = AsyncResult(_done(app, ValueError("first"), states.FAILURE), app=app)
    child = AsyncResult(_done(app, 5), app=app, parent=parent)
    with pytest.raises(ValueError, match="first"):
        child.get()
    assert child.get(follow_parents=False) == 5
    assert child.get(propagate=False) == 5
    assert child.as_list() == [child.id, parent.id]


def test_failure_value_without_propagate_and_custom_propagate_states(app: Celery) -> None:
    failed = AsyncResult(_done(app, KeyError("k"), states.FAILURE), app=app)
    value = failed.get(propagate=False)
    assert isinstance(value, KeyError)
    assert isinstance(failed.get(PROPAGATE_STATES=frozenset()), KeyError)
    with pytest.raises(KeyError):
        failed.maybe_throw()


def test_ignored_result_get_returns_none_at_once(app: Celery) -> None:
    @app.task(name="resapi.quiet", ignore_result=True)
    def quiet() -> int:
        return 1

    @app.task(name="resapi.loud")
    def loud() -> int:
        return 1

    result = quiet.delay()
    assert result.ignored is True
    assert result.get(timeout=0.01) is None
    assert loud.delay().ignored is False


def test_then_fires_once_the_result_is_seen_ready(app: Celery) -> None:
    seen: list[Any] = []
    ready = AsyncResult(_done(app, 1), app=app)
    ready.get()
    ready.then(seen.append)
    assert seen == [ready]
    pending_id = "later-" + uuid.uuid4().hex
    later = AsyncResult(pending_id, app=app)
    later.then(seen.append)
    assert len(seen) == 1
    app.backend.store_result(pending_id, 2, states.SUCCESS)  # type: ignore[attr-defined]
    assert later.get() == 2
    assert seen == [ready, later]


def test_collect_iterdeps_and_build_graph_follow_children(app: Celery) -> None:
    leaf_a, leaf_b = _done(app, "a"), _done(app, "b")
    children = [[[leaf_a, None], None], [[leaf_b, None], None]]
    root = AsyncResult(_done(app, "root", children=children), app=app)
    assert [(r.id, value) for r, value in root.collect()] == [
        (root.id, "root"), (leaf_a, "a"), (leaf_b, "b")]
    graph = root.build_graph()
    assert isinstance(graph, DependencyGraph)
    assert len(graph) == 3 and list(graph.edges()) == [root]
    assert graph.topsort()[0] == root and graph.valency_of(root) == 3
    out = io.StringIO()
    graph.to_dot(out)
    assert f'"{root.id}" -> "{leaf_a}"' in out.getvalue()
    with pytest.raises(IncompleteStream):
        list(AsyncResult("unready-" + uuid.uuid4().hex, app=app).iterdeps())


def test_resultset_join_shapes_match_celery(app: Celery) -> None:
    ids = [_done(app, i) for i in range(3)]
    rs = ResultSet([AsyncResult(i, app=app) for i in ids], app=app)
    seen: list[tuple[str, Any]] = []
    assert rs.join(callback=lambda tid, value: seen.append((tid, value))) == []
    assert seen == list(zip(ids, range(3), strict=True))
    assert rs.join_native(callback=lambda *a: None) is None
    assert rs.get() == [0, 1, 2] and rs.join_native() == [0, 1, 2]
    with pytest.raises(ImproperlyConfigured, match="on_message"):
        rs.join(on_message=lambda meta: None)
    messages: list[dict[str, Any]] = []
    assert rs.join_native(on_message=messages.append) == [0, 1, 2]
    assert [m["result"] for m in messages] == [0, 1, 2]
    assert [task_id for task_id, _ in rs.iter_native()] == ids
    assert rs.completed_count() == 3 and rs.ready() and not rs.failed()
    assert rs.supports_native_join


def test_resultset_container_methods(app: Celery) -> None:
    a, b = AsyncResult("a", app=app), AsyncResult("b", app=app)
    rs = ResultSet([a], app=app)
    rs.add(a)
    rs.update([a, b])
    assert rs.results == [a, b]
    rs.remove("a")
    assert rs.results == [b]
    with pytest.raises(KeyError):
        rs.remove(a)
    rs.discard(a)
    same = rs.results
    rs.clear()
    assert same == [] and rs.results is same


def test_group_result_save_restore_children_delete(app: Celery) -> None:
    ids = [_done(app, i) for i in range(2)]
    grp = GroupResult("g-" + uuid.uuid4().hex, [AsyncResult(i, app=app) for i in ids], app=app)
    grp.save()
    restored = GroupResult.restore(str(grp.id), app=app)
    assert restored == grp and restored is not None and restored.children == grp.results
    assert restored.get() == [0, 1]
    grp.delete()
    assert GroupResult.restore(str(grp.id), app=app) is None


@pytest.mark.parametrize("url", ["redis://:secret@localhost:6379/0", "redis://user:pw@h/1",
                                 "redis://localhost:6379/2"])
def test_as_uri_masks_the_password_as_celery(url: str) -> None:
    from celery import Celery as RealCelery

    ours = Celery("uri", broker="memory://", backend=url, set_as_current=False)
    theirs = RealCelery("uri", broker="memory://", backend=url, set_as_current=False)
    assert ours.backend.as_uri() == theirs.backend.as_uri()  # type: ignore[attr-defined]
    assert ours.backend.as_uri(include_password=True) == url  # type: ignore[attr-defined]


def test_disabled_store_refuses_chords(app: Celery) -> None:
    none = Celery("none", broker="memory://", backend="disabled://", set_as_current=False)
    with pytest.raises(NotImplementedError):
        none.backend.ensure_chords_allowed()  # type: ignore[attr-defined]
    app.backend.ensure_chords_allowed()  # type: ignore[attr-defined]


def test_backend_task_id_and_app_are_settable_as_in_celery(app: Celery) -> None:
    other = Celery("other", broker="memory://", backend="cache+memory://", set_as_current=False)
    result = AsyncResult("x", app=app)
    result.backend = other.backend
    result.task_id = "y"
    assert result.backend is other.backend and result.id == "y"
    rs = ResultSet([], app=app)
    rs.app = other
    assert rs.backend is other.backend


def test_then_with_weak_keeps_no_gone_callback_alive(app: Celery) -> None:
    seen: list[str] = []

    class Listener:
        def __init__(self, name: str) -> None:
            self.name = name

        def on_ready(self, result: Any) -> None:
            seen.append(self.name)

    pending_id = "weak-" + uuid.uuid4().hex
    later = AsyncResult(pending_id, app=app)
    kept, gone = Listener("kept"), Listener("gone")
    later.then(kept.on_ready, weak=True)
    later.then(gone.on_ready, weak=True)
    later.then(Listener("strong").on_ready)  # weak=False: the result keeps it alive
    del gone
    app.backend.store_result(pending_id, 3, states.SUCCESS)  # type: ignore[attr-defined]
    assert later.get() == 3
    assert seen == ["kept", "strong"]


def test_a_graph_formatter_draws_the_dot_output_as_celerys_does(app: Celery) -> None:
    from celery.utils.graph import DependencyGraph as CeleryGraph
    from celery.utils.graph import GraphFormatter

    leaf = _done(app, "leaf")
    root = AsyncResult(_done(app, "root", children=[[[leaf, None], None]]), app=app)
    ours, theirs = io.StringIO(), io.StringIO()
    root.build_graph(formatter=GraphFormatter()).to_dot(ours)
    CeleryGraph(list(root.build_graph().items()), formatter=GraphFormatter()).to_dot(theirs)
    assert ours.getvalue() == theirs.getvalue()
    assert ours.getvalue().startswith("digraph") and str(root.id) in ours.getvalue()
