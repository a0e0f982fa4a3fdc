"""``Task.replace`` / ``add_to_chord`` (``celeriac/app/replace.py``) without a worker.

What the replacement signature carries is checked next to real Celery 5.7's ``Task.replace``
run on the same request (``on_replace`` overridden to capture it, which both allow); sending,
``Ignore`` and the chord growth use the in-process memory:// broker and store. The behaviour
across real workers is in ``tests/integration/test_replace_workers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.app.task import Task
from celeriac.backends.chords import MemoryChordJoin
from celeriac.canvas import chain, group
from celeriac.canvas.chord import chord
from celeriac.exceptions import Ignore, ImproperlyConfigured
from celeriac.execution.context import Context
from tests.unit.canvas_apps import memory_canvas_app

celery = pytest.importorskip("celery")

CAPTURED: list[Any] = []


class Capturing(Task[Any, Any]):
    """Keeps the replacement instead of sending it."""

    def on_replace(self, sig: Any) -> Any:
        CAPTURED.append(sig)
        return "captured"


@pytest.fixture
def app() -> Iterator[Celery]:
    made = memory_canvas_app()

    @made.task(name="proj.host", bind=True, base=Capturing)
    def host(self: Task[Any, Any]) -> None:
        return None

    @made.task(name="proj.plain_host", bind=True)
    def plain_host(self: Task[Any, Any]) -> None:
        return None

    yield made
    made.close()


@pytest.fixture
def capp() -> Iterator[Any]:
    made = celery.Celery("proj", set_as_current=False)

    class CeleryCapturing(made.Task):  # type: ignore[name-defined,misc]
        def on_replace(self, sig: Any) -> Any:
            CAPTURED.append(sig)
            return "captured"

    def add(x: int, y: int) -> int:
        return x + y

    def host(self: Any) -> None:
        return None

    made.task(name="proj.add")(add)
    made.task(name="proj.host", bind=True, base=CeleryCapturing)(host)
    yield made


REQUEST: dict[str, Any] = {
    "id": "host-id", "root_id": "root-id", "group": "gid", "group_index": 2,
    "chord": {"task": "proj.add", "args": [], "kwargs": {}, "options": {"task_id": "body"},
              "subtask_type": None, "immutable": False},
    "callbacks": [{"task": "proj.add", "args": [1], "kwargs": {}, "options": {},
                   "subtask_type": None, "immutable": False}],
    "errbacks": [{"task": "proj.add", "args": [2], "kwargs": {}, "options": {},
                  "subtask_type": None, "immutable": False}],
    "chain": [{"task": "proj.add", "args": [3], "kwargs": {}, "options": {"task_id": "next"},
               "subtask_type": None, "immutable": False}],
}


def _celeriac_replace(app: Celery, make: Any) -> Any:
    host = app.tasks["proj.host"]
    fields = {"group" if k == "group" else k: v for k, v in REQUEST.items()}
    token = host.push_request(Context(**fields, called_directly=False,
                                      headers={"replaced_task_nesting": 1}))
    try:
        assert host.replace(make(app)) == "captured"
    finally:
        host.pop_request(token)
    return CAPTURED.pop()


def _celery_replace(capp: Any, make: Any) -> Any:
    host = capp.tasks["proj.host"]
    host.push_request(**REQUEST, replaced_task_nesting=1, called_directly=False)
    try:
        assert host.replace(make(capp)) == "captured"
    finally:
        host.pop_request()
    return CAPTURED.pop()


def _shape(sig: Any) -> Any:
    """A signature's structure without the ids freeze() made up at random."""
    if isinstance(sig, dict):
        return {k: (_shape(v) if k != "task_id" or v in ("host-id", "next", "body") else "*")
                for k, v in sig.items() if k not in ("reply_to", "stamped_headers", "stamps")}
    if isinstance(sig, list | tuple):
        return [_shape(item) for item in sig]
    return sig


def test_replacement_inherits_the_tasks_place_as_celerys(app: Celery, capp: Any) -> None:
    ours = _celeriac_replace(app, lambda a: a.signature("proj.add", (5, 5)))
    theirs = _celery_replace(capp, lambda a: a.signature("proj.add", (5, 5)))
    assert isinstance(ours, chain)  # the rest of the task's chain follows it
    first, rest = ours.tasks
    assert first.id == "host-id" and rest.id == "next"
    options = first.options
    assert (options["group_id"], options["group_index"], options["root_id"]) == ("gid", 2,
                                                                                "root-id")
    assert options["chord"]["options"]["task_id"] == "body"
    assert options["replaced_task_nesting"] == 2 and rest.options["replaced_task_nesting"] == 2
    assert [cb["args"] for cb in options["link"]] == [[1]]
    assert [eb["args"] for eb in options["link_error"]] == [[2]]
    assert _shape(dict(ours)) == _shape(dict(theirs))


@pytest.mark.filterwarnings("ignore::celery.exceptions.CPendingDeprecationWarning")
def test_a_group_is_chorded_into_accumulate_as_celerys(app: Celery, capp: Any) -> None:
    def make(a: Any) -> Any:
        canvas = celery.canvas if a is capp else __import__("celeriac.canvas").canvas
        return canvas.group(a.signature("proj.add", (1, 1)), a.signature("proj.add", (2, 2)))

    ours = _celeriac_replace(app, make)
    theirs = _celery_replace(capp, make)
    # As Celery: a chord whose body is ``accumulate`` (under the task's id) followed by the rest
    # of the task's chain (``chord | sig`` hangs the rest on the body).
    assert isinstance(ours, chord)
    (accumulate, rest), (their_accumulate, their_rest) = ours.body.tasks, theirs.body.tasks
    assert rest.id == their_rest.id == "next"
    assert (accumulate.task, accumulate.kwargs, accumulate.id) == (
        their_accumulate.task, their_accumulate.kwargs, their_accumulate.id) == (
        "celery.accumulate", {"index": 0}, "host-id")
    for ours_opts, theirs_opts in ((accumulate.options, their_accumulate.options),
                                   (ours.options, theirs.options)):
        assert _shape({k: v for k, v in ours_opts.items() if k != "task_id"}) == _shape(
            {k: v for k, v in theirs_opts.items() if k != "task_id"})
    assert app.tasks["celery.accumulate"](7, 8, index=0) == 7
    assert app.tasks["celery.accumulate"](7, 8) == (7, 8)


def test_refused_replacements(app: Celery) -> None:
    host = app.tasks["proj.host"]
    add = app.tasks["proj.add"]
    with pytest.raises(ImproperlyConfigured, match="must not be part of a chord"):
        host.replace(add.s(1, 1).set(chord=add.s()))
    with pytest.raises(ImproperlyConfigured, match="empty chain"):
        host.replace(chain())


def test_replace_sends_and_ignores_outside_eager(app: Celery) -> None:
    host = app.tasks["proj.plain_host"]
    token = host.push_request(Context(id="old-id", called_directly=False))
    try:
        with pytest.raises(Ignore, match="Replaced by new task"):
            host.replace(app.tasks["proj.add"].s(1, 2))
    finally:
        host.pop_request(token)
    got = app.transport.channel().fetch(["celery"], 2, 1.0)
    assert [(d.message.headers["id"], d.message.headers["replaced_task_nesting"])
            for d in got] == [("old-id", 1)]


def test_replace_runs_the_replacement_here_in_eager_mode(app: Celery) -> None:
    app.conf.task_always_eager = True

    @app.task(name="proj.eager_host", bind=True)
    def eager_host(self: Task[Any, Any], x: int) -> Any:
        return self.replace(group(app.tasks["proj.add"].s(x, 1), app.tasks["proj.add"].s(x, 2)))

    assert eager_host.delay(1).get() == [2, 3]


def test_add_to_chord(app: Celery) -> None:
    host = app.tasks["proj.plain_host"]
    add = app.tasks["proj.add"]
    with pytest.raises(ValueError, match="Current task is not member of any chord"):
        host.add_to_chord(add.s(1, 1))
    body = add.s(0)
    token = host.push_request(Context(id="member", group="gid", group_index=1, chord=body,
                                      root_id="root", called_directly=False))
    try:
        lazy = host.add_to_chord(add.s(1, 1), lazy=True)
        result = host.add_to_chord(add.s(2, 2))
    finally:
        host.pop_request(token)
    assert lazy.options["group_id"] == "gid" and lazy.options["chord"] == body and lazy.id
    join = app.backend.chord_join()
    assert isinstance(join, MemoryChordJoin) and join._chords["gid"]["extra"] == 2
    sent = app.transport.channel().fetch(["celery"], 2, 1.0)
    assert [d.message.headers["id"] for d in sent] == [result.id]
    assert sent[0].message.headers["group"] == "gid"


def test_add_to_chord_needs_a_store_that_counts_chords(app: Celery) -> None:
    app.conf.result_backend = None
    host = app.tasks["proj.plain_host"]
    token = host.push_request(Context(id="member", group="gid", chord={"task": "proj.add"},
                                      called_directly=False))
    try:
        with pytest.raises(NotImplementedError):
            host.add_to_chord(app.tasks["proj.add"].s(1, 1))
    finally:
        host.pop_request(token)


def test_a_retry_keeps_the_replacement_depth(app: Celery) -> None:
    """As Celery's ``as_execution_options``: a retried replacement is still as deep."""
    assert Context(headers={"replaced_task_nesting": 2}).as_execution_options()[
        "replaced_task_nesting"] == 2
    assert Context().as_execution_options()["replaced_task_nesting"] == 0
