"""A group or chord header given as a generator is read lazily (``celeriac/canvas/lazy.py``).

As Celery 5.x's ``regen``: building the canvas reads nothing, sending reads it while
publishing (one batch ahead), and the chord is sized before its last batch leaves; a store
whose join needs the size first gets the header read whole before anything is sent.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends.chords import MemoryChordJoin
from celeriac.canvas import chord, group
from celeriac.canvas.lazy import LazyTasks
from celeriac.signals import before_task_publish
from tests.unit.canvas_apps import memory_canvas_app

#: the module (``celeriac.canvas.group`` as an attribute is the class of that name)
group_module = importlib.import_module("celeriac.canvas.group")


@pytest.fixture
def app() -> Iterator[Celery]:
    made = memory_canvas_app()
    yield made
    made.close()


def _generator(app: Celery, count: int, events: list[str]) -> Iterator[Any]:
    for i in range(count):
        events.append(f"read {i}")
        yield app.tasks["proj.add"].s(i, i)


def test_building_reads_nothing(app: Celery) -> None:
    events: list[str] = []
    grp = group(_generator(app, 3, events))
    made = chord(_generator(app, 3, events), app.tasks["proj.xsum"].s())
    assert events == []
    assert isinstance(grp.tasks, LazyTasks) and isinstance(made.tasks, LazyTasks)
    assert made.app is app and events == []  # the body names the app
    assert grp.app is app and events == ["read 0"]  # the first member is read for it


def test_sending_reads_while_publishing_and_sizes_before_the_last_batch(
        app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group_module, "STREAM_BATCH", 2)
    events: list[str] = []
    join = app.backend.chord_join()
    assert isinstance(join, MemoryChordJoin)

    def published(headers: dict[str, Any] | None = None, **_: Any) -> None:
        sized = "size" in join._chords.get(str((headers or {}).get("group")), {})
        events.append(f"publish {(headers or {}).get('group_index')}{' sized' if sized else ''}")

    before_task_publish.connect(published)
    try:
        result = chord(_generator(app, 5, events), app.tasks["proj.xsum"].s()).apply_async()
    finally:
        before_task_publish.disconnect(published)
    assert events == ["read 0", "read 1", "read 2", "read 3", "publish 0", "publish 1",
                      "read 4", "publish 2", "publish 3", "publish 4 sized"]
    gid = result.parent.id
    assert join._chords[gid]["size"] == 5
    assert [r.id for r in result.parent.results] == [
        d.message.headers["id"] for d in app.transport.channel().fetch(["celery"], 6, 1.0)]


@pytest.mark.parametrize("needs_size_first", [True, False])
def test_a_list_header_or_a_join_that_needs_the_size_first_is_sent_whole(
        app: Celery, monkeypatch: pytest.MonkeyPatch, needs_size_first: bool) -> None:
    """A list is never streamed (one round trip); nor is a generator to such a join."""
    monkeypatch.setattr(group_module, "STREAM_BATCH", 2)
    monkeypatch.setattr(MemoryChordJoin, "counts_unsized_parts", not needs_size_first)
    events: list[str] = []
    join = app.backend.chord_join()
    assert isinstance(join, MemoryChordJoin)

    def published(headers: dict[str, Any] | None = None, **_: Any) -> None:
        events.append("publish sized" if join._chords.get(str((headers or {}).get("group")),
                                                          {}).get("size") == 5 else "publish")

    before_task_publish.connect(published)
    try:
        header = _generator(app, 5, events)
        chord(header if needs_size_first else list(header),
              app.tasks["proj.xsum"].s()).apply_async()
    finally:
        before_task_publish.disconnect(published)
    assert events == [f"read {i}" for i in range(5)] + ["publish sized"] * 5


def test_whole_reads_are_kept_and_serialise_whole(app: Celery) -> None:
    events: list[str] = []
    grp = group(_generator(app, 3, events))
    assert grp.tasks[1].args == [1, 1] and events == ["read 0", "read 1"]
    assert json.loads(json.dumps(grp.tasks, default=lambda o: o.__json__()))[2]["args"] == [2, 2]
    assert len(grp.tasks) == 3 and events == ["read 0", "read 1", "read 2"]
    assert copy.deepcopy(grp).tasks == grp.tasks
    assert [sig.args for sig in grp.tasks] == [[0, 0], [1, 1], [2, 2]]  # read once, kept
    empty = group(iter(()))
    assert not empty.tasks and len(empty.tasks) == 0
