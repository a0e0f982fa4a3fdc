"""The result-store capabilities (``celeriac/backends/capabilities.py``), proved per store.

Chord joins and saved groups run on every store that declares them (store-if-not-final is in
``test_backend_contract``). A store that lacks a capability refuses it with
``UnsupportedByStore``; and every store ``result_backend`` can name has each capability it
declares proved here, by a factory of the suite and a marked test.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends import BACKEND_ALIASES
from celeriac.backends.base import GROUP_KEY_PREFIX, KeyValueBackend, ResultBackend
from celeriac.backends.capabilities import (
    PROVIDED_BY,
    Capability,
    StoreCapabilities,
    UnsupportedByStore,
)
from celeriac.backends.chords import ChordJoin, ChordPart
from celeriac.backends.record_codec import COMPRESSED_MAGIC
from celeriac.canvas import chord
from celeriac.results.group_result import GroupResult
from celeriac.serialization.json_codec import json_dumps
from celeriac.utils.imports import import_symbol
from tests.contract.conftest import BACKEND_FACTORIES
from tests.helpers import wait_until

CHORDS = pytest.mark.capability(Capability.CHORDS)
GROUPS = pytest.mark.capability(Capability.GROUPS)


def _part(gid: str, index: int | None, task_id: str | None = None) -> ChordPart:
    return ChordPart(task_id or f"t{index}", gid, index, {"task": "proj.xsum"}, "SUCCESS",
                     None if index is None else index * 10)


# -- chords --------------------------------------------------------------------------------------


@CHORDS
def test_a_chord_is_claimed_once_in_header_order(backend: ResultBackend) -> None:
    join = backend.chord_join()
    assert join is backend.chord_join()  # one join per store object
    gid = uuid.uuid4().hex
    join.set_size(gid, 3)
    assert join.add_parts([_part(gid, 2), _part(gid, 2)]) == []  # a redelivery counts once
    assert join.add_parts([_part(gid, 0)]) == []
    claimed = join.add_parts([_part(gid, 1)])
    assert len(claimed) == 1 and claimed[0].part.group_id == gid
    assert claimed[0].results == [("t0", "SUCCESS", 0), ("t1", "SUCCESS", 10),
                                  ("t2", "SUCCESS", 20)]
    join.finish(claimed[0])
    assert join.add_parts([_part(gid, 1)]) == []  # a late duplicate after firing: ignored


@CHORDS
def test_the_client_sizes_and_workers_join_through_separate_stores(
        make_backend: Callable[..., ResultBackend]) -> None:
    client, first, second = make_backend(), make_backend(), make_backend()
    gid = uuid.uuid4().hex
    client.chord_join().set_size(gid, 2)
    assert first.chord_join().add_parts([_part(gid, 1)]) == []
    claimed = second.chord_join().add_parts([_part(gid, 0)])
    assert [r[0] for r in claimed[0].results] == ["t0", "t1"]


@CHORDS
def test_racing_parts_claim_a_chord_exactly_once(
        make_backend: Callable[..., ResultBackend]) -> None:
    joins = [make_backend().chord_join() for _ in range(4)]
    gid, size = uuid.uuid4().hex, 16
    joins[0].set_size(gid, size)
    claims: list[int] = []
    start = threading.Barrier(size)

    def finish(index: int) -> None:
        start.wait()
        claims.extend([index] * len(joins[index % 4].add_parts([_part(gid, index)])))

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(claims) == 1


@CHORDS
def test_an_abandoned_chord_is_not_failed_again(backend: ResultBackend) -> None:
    join: ChordJoin = backend.chord_join()
    gid = uuid.uuid4().hex
    join.set_size(gid, 2)
    join.add_parts([_part(gid, 0)])
    claimed = join.add_parts([_part(gid, None, "last")])  # no index: ordered last
    assert [r[0] for r in claimed[0].results] == ["t0", "last"]
    join.abandon(claimed[0])
    assert join.add_parts([_part(gid, 0), _part(gid, None, "last")]) == []


@CHORDS
def test_a_chord_grows_for_tasks_added_to_it(backend: ResultBackend) -> None:
    """``Task.add_to_chord``: the added task carries its adder's ``group_index``, so it is
    told apart by its id; the chord waits for it."""
    join = backend.chord_join()
    gid = uuid.uuid4().hex
    join.set_size(gid, 2)
    join.grow(gid, 1)
    assert join.add_parts([_part(gid, 0), _part(gid, 1)]) == []
    claimed = join.add_parts([_part(gid, 1, "added")])
    assert len(claimed) == 1
    assert sorted(r[0] for r in claimed[0].results) == ["added", "t0", "t1"]
    join.finish(claimed[0])
    again = uuid.uuid4().hex  # a finished chord's growth does not leak into another
    join.set_size(again, 1)
    assert len(join.add_parts([_part(again, 0)])) == 1


@CHORDS
def test_parts_and_growth_before_the_size_are_kept(backend: ResultBackend) -> None:
    """A generator-fed header is sized before its last batch is sent: a join that says it
    counts parts arriving earlier (``counts_unsized_parts``) keeps them, and growth too."""
    join = backend.chord_join()
    if not join.counts_unsized_parts:
        pytest.skip(f"{type(join).__name__} needs the size first (headers are read whole)")
    gid = uuid.uuid4().hex
    assert join.add_parts([_part(gid, 0)]) == []
    join.grow(gid, 1)
    assert join.add_parts([_part(gid, 0, "added")]) == []
    join.set_size(gid, 2)
    claimed = join.add_parts([_part(gid, 1)])
    assert len(claimed) == 1
    assert sorted(r[0] for r in claimed[0].results) == ["added", "t0", "t1"]


# -- groups --------------------------------------------------------------------------------------


def _group_tuple(gid: str, count: int) -> tuple[Any, list[Any]]:
    return ((gid, None), [((f"{gid}-{i}", None), None) for i in range(count)])


@GROUPS
def test_a_saved_group_is_restored_by_another_store(
        make_backend: Callable[..., ResultBackend]) -> None:
    writer, reader = make_backend(), make_backend()
    gid = uuid.uuid4().hex
    writer.save_group(gid, _group_tuple(gid, 3))
    assert reader.restore_group(gid) == [[gid, None], [[[f"{gid}-{i}", None], None]
                                                        for i in range(3)]]
    reader.delete_group(gid)
    assert writer.restore_group(gid) is None
    assert writer.restore_group("never-saved") is None


@GROUPS
def test_a_group_is_kept_in_celerys_layout(backend: ResultBackend) -> None:
    """``celery-taskset-meta-<gid>`` = ``{"result": <as_tuple()>}`` in JSON, as Celery reads it
    (wire-protocol.md §4.3), whether given a ``GroupResult`` or its tuple form."""
    gid = uuid.uuid4().hex
    app = Celery("capabilities", broker="memory://", backend="cache+memory://")
    group_result = GroupResult(gid, [app.AsyncResult(f"{gid}-{i}") for i in range(2)], app=app)
    backend.save_group(gid, group_result)
    if isinstance(backend, KeyValueBackend):  # django-db, SQL stores: their own tests
        raw = backend._kv_get(GROUP_KEY_PREFIX + gid)
        assert raw == json_dumps({"result": [[gid, None], [[[f"{gid}-0", None], None],
                                                           [[f"{gid}-1", None], None]]]})
    restored = GroupResult.restore(gid, backend=backend, app=app)
    assert restored == group_result


@GROUPS
def test_a_group_is_encoded_like_the_records(make_backend: Callable[..., ResultBackend]) -> None:
    """As Celery's ``_save_group``: ``result_serializer`` and ``result_compression`` apply, so
    Celery peers configured alike restore it (a key-value store's value is checked as such)."""
    options = {"serializer": "msgpack", "accept": ("json", "msgpack")}
    writer = make_backend(compression="gzip", **options)
    gid = uuid.uuid4().hex
    writer.save_group(gid, _group_tuple(gid, 2))
    if isinstance(writer, KeyValueBackend):
        raw = writer._kv_get(GROUP_KEY_PREFIX + gid)
        assert raw is not None and raw.startswith(COMPRESSED_MAGIC + b"application/x-gzip")
    assert make_backend(**options).restore_group(gid) == [
        [gid, None], [[[f"{gid}-{i}", None], None] for i in range(2)]]


@GROUPS
def test_saved_groups_expire_with_the_records(make_backend: Callable[..., ResultBackend]) -> None:
    backend = make_backend(expires=0.2)
    gid = uuid.uuid4().hex
    backend.save_group(gid, _group_tuple(gid, 1))
    wait_until(lambda: backend.restore_group(gid) is None, timeout=10)


# -- what every registered store declares ---------------------------------------------------------


def _registered_stores() -> list[type[Any]]:
    return sorted({import_symbol(target) for target in BACKEND_ALIASES.values()},
                  key=lambda cls: cls.__name__)


def _proved_capabilities() -> set[Capability]:
    """The capabilities some contract test is marked as proving."""
    proved: set[Capability] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        module = importlib.import_module(f"tests.contract.{path.stem}")
        for name, test in vars(module).items():
            if name.startswith("test_"):
                proved.update(mark.args[0] for mark in getattr(test, "pytestmark", [])
                              if mark.name == "capability")
    return proved


@pytest.mark.parametrize("store", _registered_stores(), ids=lambda cls: cls.__name__)
def test_every_declared_capability_is_proved_by_the_contract(store: type[Any]) -> None:
    assert issubclass(store, StoreCapabilities)
    factories = [kind for kind, factory in BACKEND_FACTORIES.items() if factory.cls is store]
    if store.capabilities:
        assert factories, f"{store.__name__} declares capabilities but no contract factory"
    missing = set(store.capabilities) - _proved_capabilities()
    assert not missing, f"{store.__name__} declares {missing}, which no contract test proves"


#: Arguments to call each capability method with.
_ARGS: dict[str, tuple[Any, ...]] = {"chord_join": (), "save_group": ("g", _group_tuple("g", 1)),
                                     "restore_group": ("g",), "delete_group": ("g",)}


@pytest.mark.parametrize("store", _registered_stores(), ids=lambda cls: cls.__name__)
def test_a_store_refuses_what_it_does_not_declare(store: type[Any]) -> None:
    bare = object.__new__(store)  # the refusals touch no state: no connection is needed
    for capability, methods in PROVIDED_BY.items():
        if capability in store.capabilities:
            continue
        for name in methods:
            with pytest.raises(NotImplementedError, match=f"does not support {capability}"):
                getattr(bare, name)(*_ARGS[name])


def test_a_store_must_declare_what_it_provides() -> None:
    with pytest.raises(TypeError, match=r"provides chord_join\(\) but does not declare"):
        type("Undeclared", (StoreCapabilities,), {"chord_join": lambda self: None})
    with pytest.raises(TypeError, match=r"lacks save_group\(\) but declares"):
        type("Unprovided", (StoreCapabilities,),
             {"capabilities": frozenset({Capability.GROUPS})})


def test_chords_and_groups_without_a_store_fail_clearly() -> None:
    app = Celery("nostore", broker="memory://")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(UnsupportedByStore, match="DisabledBackend does not support chords"):
        chord([add.s(1, 1)], add.s(1))()
    with pytest.raises(NotImplementedError, match="does not support groups"):
        GroupResult("g", [app.AsyncResult("a")], app=app).save()
    with pytest.raises(NotImplementedError, match="does not support groups"):
        GroupResult.restore("g", app=app)
