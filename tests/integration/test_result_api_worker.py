"""Celery's result API across a real worker: ``collect`` over a task that sends a group and a
chain, ``join`` with ``callback``, ``get`` with ``on_message``, a chain's failed parent,
``ignore_result`` and ``disable_sync_subtasks`` inside a task. Broker and results: SQLite
files in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.canvas import chain, group
from tests.helpers import import_app_module, running_worker, unique_name

pytestmark = [pytest.mark.slow]

TASKS = """
from celeriac import Celery, group

app = Celery({name!r}, broker={broker!r}, backend={results!r})


@app.task(name="proj.add")
def add(x, y):
    return x + y


@app.task(name="proj.fan")
def fan(n):
    return group(add.s(i, i) for i in range(n)).delay()


@app.task(name="proj.boom")
def boom(*args):
    raise ValueError("boom")


@app.task(name="proj.quiet", ignore_result=True)
def quiet():
    return 1


@app.task(name="proj.waits")
def waits():
    try:
        add.delay(1, 1).get(timeout=10)
    except RuntimeError as exc:
        return "refused: " + str(exc).splitlines()[0]
    return "waited"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str, Any]]:
    monkeypatch.chdir(tmp_path)
    name = unique_name("resapi")
    (tmp_path / f"{name}.py").write_text(TASKS.format(
        name=name, broker=f"sqlite:///{tmp_path / 'broker.db'}",
        results=f"sqlite:///{tmp_path / 'results.db'}"))
    mod: Any = import_app_module(tmp_path, name)
    yield tmp_path, name, mod
    mod.app.close()


def test_result_api_across_a_worker(project: tuple[Path, str, Any]) -> None:
    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        # collect over a chain: from its first step, each step's value in order.
        last = chain(mod.add.s(1, 1), mod.add.s(10), mod.add.s(100)).apply_async()
        assert last.get(timeout=30) == 112
        root = last.parent.parent
        assert [value for _, value in root.collect(timeout=30)] == [2, 12, 112]
        graph = root.build_graph()
        assert len(graph) == 3 and graph.topsort()[0] == root

        # A task returning a GroupResult stores its tuple form (Celery's prepare_value).
        fanned = mod.fan.delay(2).get(timeout=30)
        assert isinstance(fanned, list) and len(fanned[1]) == 2

        # join with a callback: every (task_id, value) reaches it; join returns [].
        grp = group(mod.add.s(i, 1) for i in range(4)).apply_async()
        seen: dict[str, Any] = {}
        assert grp.join(timeout=30, callback=lambda tid, value: seen.__setitem__(tid, value)) == []
        assert seen == {r.id: i + 1 for i, r in enumerate(grp.results)}
        assert grp.join_native(timeout=30, callback=lambda *a: None) is None
        assert grp.completed_count() == 4 and grp.successful() and not grp.waiting()

        # get with on_message and callback.
        messages: list[dict[str, Any]] = []
        calls: list[tuple[str, Any]] = []
        result = mod.add.delay(20, 22)
        assert result.get(timeout=30, on_message=messages.append,
                          callback=lambda tid, v: calls.append((tid, v))) == 42
        assert messages[-1]["status"] == "SUCCESS" and messages[-1]["result"] == 42
        assert calls == [(result.id, 42)]

        # A chain's failed first step raises from the last step's get (follow_parents).
        failing = chain(mod.boom.s(), mod.add.s(1)).apply_async()
        with pytest.raises(ValueError, match="boom"):
            failing.get(timeout=30)

        # ignore_result: get() returns None at once (Celery 5.7).
        quiet = mod.quiet.delay()
        assert quiet.ignored and quiet.get(timeout=1) is None

        # Waiting inside a task is refused (assert_will_not_block).
        assert mod.waits.delay().get(timeout=30).startswith("refused: Never call result.get()")
