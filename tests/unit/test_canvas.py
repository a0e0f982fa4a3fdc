"""Canvas without a worker: dict shapes against real Celery, what goes on the wire, chord joins.

Messages are published to an in-process memory:// broker and read back; nothing runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends.chords import MemoryChordJoin
from celeriac.backends.memory import MemoryBackend
from celeriac.canvas import Signature, chain, chord, chunks, group, maybe_signature, xmap
from celeriac.execution.callbacks import _runs_in_process
from celeriac.protocol.result_meta import ResultMeta
from celeriac.results.group_result import GroupResult, result_from_tuple
from tests.unit.canvas_apps import memory_canvas_app

celery = pytest.importorskip("celery")


@pytest.fixture
def app() -> Iterator[Celery]:
    made = memory_canvas_app()

    @made.task(name="proj.err3")
    def err3(request: Any, exc: Any, traceback: Any) -> None:
        return None

    @made.task(name="proj.err1")
    def err1(task_id: str, key: str = "") -> None:
        return None

    yield made
    made.close()


@pytest.fixture
def capp() -> Any:
    return celery.Celery("proj", set_as_current=False)


def _sent(app: Celery, count: int) -> list[tuple[dict[str, Any], list[Any]]]:
    channel = app.transport.channel()
    got = channel.fetch(["celery"], count + 1, 1.0)
    channel.ack(got)
    return [(d.message.headers, json.loads(d.message.body)) for d in got]


def test_signature_dicts_match_celery(app: Celery, capp: Any) -> None:
    ours = app.tasks["proj.add"].si(7, 7).set(countdown=5, priority=3)
    theirs = capp.signature("proj.add", (7, 7), immutable=True).set(countdown=5, priority=3)
    assert json.loads(json.dumps(ours)) == json.loads(json.dumps(theirs))
    grp = group(app.signature("proj.add", (1,)), app.signature("proj.add", (2,)))
    cgrp = celery.group(capp.signature("proj.add", (1,)), capp.signature("proj.add", (2,)))
    assert json.loads(json.dumps(grp)) == json.loads(json.dumps(cgrp))


def test_from_dict_rebuilds_celery_canvas(app: Celery, capp: Any) -> None:
    add = capp.signature("proj.add")
    built = {
        "chain": celery.chain(add.clone((1, 2)), add.clone((3,))),
        "group": celery.group(add.clone((1, 1)), add.clone((2, 2))),
        "chord": celery.chord([add.clone((1, 1))], capp.signature("proj.xsum")),
        "xmap": celery.canvas.xmap(add, [1, 2]),
        "chunks": celery.canvas.chunks(add, [(1, 1)], 1),
    }
    for kind, sig in built.items():
        ours = Signature.from_dict(json.loads(json.dumps(sig)), app=app)
        assert type(ours).__name__ in (kind, "_chain")
        assert json.loads(json.dumps(ours)) == json.loads(json.dumps(sig))
    assert isinstance(maybe_signature(json.loads(json.dumps(built["chord"])), app), chord)


def test_chain_is_one_message_with_reversed_chain(app: Celery) -> None:
    add = app.tasks["proj.add"]
    result = chain(add.s(1, 2), add.s(3), add.s(10)).apply_async()
    (headers, (args, _, embed)), = _sent(app, 1)
    assert args == [1, 2] and headers["root_id"] == headers["id"]
    assert [step["args"] for step in embed["chain"]] == [[10], [3]]
    assert embed["chain"][0]["options"]["task_id"] == result.id
    assert embed["chain"][1]["options"]["task_id"] == result.parent.id
    assert result.parent.parent.id == headers["id"]
    assert embed["callbacks"] is None and embed["chord"] is None


def test_group_members_share_group_and_index(app: Celery) -> None:
    add = app.tasks["proj.add"]
    result = group(add.s(i, i) for i in range(3)).apply_async()
    sent = _sent(app, 3)
    assert {h["group"] for h, _ in sent} == {result.id}
    assert [h["group_index"] for h, _ in sent] == [0, 1, 2]
    assert [h["id"] for h, _ in sent] == [r.id for r in result]
    assert group().apply_async().results == []


def test_chord_writes_size_then_sends_header_with_body(app: Celery) -> None:
    add, xsum = app.tasks["proj.add"], app.tasks["proj.xsum"]
    result = chord([add.s(i, i) for i in range(3)], xsum.s())()
    sent = _sent(app, 3)
    gid = sent[0][0]["group"]
    assert result.parent.id == gid and [r.id for r in result.parent] == [h["id"] for h, _ in sent]
    body = sent[0][1][2]["chord"]
    assert body["task"] == "proj.xsum"
    assert body["options"]["task_id"] == result.id and body["options"]["group_id"] == gid
    join = app.backend.chord_join()
    assert isinstance(join, MemoryChordJoin)
    assert join._chords[gid]["size"] == 3


def test_chord_size_counts_nested(app: Celery) -> None:
    add, xsum = app.tasks["proj.add"], app.tasks["proj.xsum"]
    header = [group(add.s(1, 1), add.s(2, 2)), chain(add.s(1, 1), add.s(1)), add.s(0, 0)]
    chord(header, xsum.s())()
    sent = _sent(app, 4)
    gid = sent[0][0]["group"]
    assert app.backend.chord_join()._chords[gid]["size"] == 4  # type: ignore[attr-defined]


def test_errback_arity(app: Celery) -> None:
    assert _runs_in_process(app.tasks["proj.err3"], app.tasks["proj.err3"].s())
    assert not _runs_in_process(app.tasks["proj.err1"], app.tasks["proj.err1"].s(key="x"))


def test_group_result_batches_and_tuples(app: Celery) -> None:
    calls: list[int] = []
    backend = app.backend
    assert isinstance(backend, MemoryBackend)
    original = backend.get_many

    def counting_get_many(task_ids: Sequence[str]) -> list[ResultMeta]:
        calls.append(len(task_ids))
        return original(task_ids)

    backend.get_many = counting_get_many  # type: ignore[method-assign]  # count round trips
    ids = [uuid.uuid4().hex for _ in range(2500)]
    backend.store([ResultMeta(i, "SUCCESS", n) for n, i in enumerate(ids)])
    result = GroupResult("g1", [app.AsyncResult(i) for i in ids], app=app)
    assert result.get(timeout=1) == list(range(2500))
    assert calls == [1000, 1000, 500]
    restored = result_from_tuple(json.loads(json.dumps(result.as_tuple())), app)
    assert isinstance(restored, GroupResult) and [r.id for r in restored] == ids


def test_map_and_chunks_messages(app: Celery) -> None:
    add = app.tasks["proj.add"]
    xmap(add.s(), [1, 2]).apply_async()
    (headers, (_, kwargs, _)), = _sent(app, 1)
    assert headers["task"] == "celery.map" and kwargs["it"] == [1, 2]
    assert kwargs["task"]["task"] == "proj.add"
    res = chunks(add.s(), [(i, i) for i in range(5)], 2).apply_async()
    sent = _sent(app, 3)
    assert [h["task"] for h, _ in sent] == ["celery.starmap"] * 3 and len(res) == 3
