"""The Signature API beyond sending, compared with real Celery 5.7 where both can run:
``register_type``/``from_dict``, JSON round trips of every canvas type, ``clone``/``replace``/
``freeze``/``set_immutable``/``on_error``, ``group.skew``, ``chord.link_error``,
``maybe_unroll_group``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac import canvas as kc
from celeriac.canvas import (
    Signature,
    chain,
    chord,
    chunks,
    group,
    maybe_unroll_group,
    xmap,
    xstarmap,
)

celery = pytest.importorskip("celery")
cc = pytest.importorskip("celery.canvas")


@pytest.fixture
def app() -> Iterator[Celery]:
    made = Celery("sigapi", broker="memory://sigapi", set_as_current=False)

    @made.task(name="t.add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    yield made
    made.close()


@pytest.fixture
def capp() -> Any:
    made = celery.Celery("sigapi_c", set_as_current=False)

    @made.task(name="t.add")  # type: ignore[untyped-decorator]  # Celery is untyped
    def add(x: int, y: int = 0) -> int:
        return x + y

    return made


def _every_type(app: Celery) -> dict[str, Signature]:
    add = app.tasks["t.add"]
    linked = add.si(3)
    linked.link(add.s(9))
    linked.link_error(add.s(0))
    return {
        "signature": add.s(1, y=2).set(queue="q", countdown=3),
        "with links": linked,
        "chain": chain(add.s(1), add.s(2), add.s(3)),
        "group": group(add.s(1), chain(add.s(2), add.s(3))),
        "chord": chord([add.s(1), add.s(2)], add.s(3)),
        "chord of a group of chains": chord(
            group(chain(add.s(1), add.s(2)), chain(add.s(3), add.s(4))), add.s()),
        "chunks": chunks(add.s(), [[1, 2], [3, 4]], 1),
        "xmap": xmap(add.s(), [1, 2]),
        "xstarmap": xstarmap(add.s(), [[1, 2]]),
        "chain with a group": chain(add.s(1), group(add.s(2), add.s(3)), add.s(4)),
    }


TYPE_NAMES = ["signature", "with links", "chain", "group", "chord", "chord of a group of chains",
              "chunks", "xmap", "xstarmap", "chain with a group"]


@pytest.mark.parametrize("name", TYPE_NAMES)
@pytest.mark.parametrize("stamped", [False, True])
def test_json_round_trip(app: Celery, name: str, stamped: bool) -> None:
    sig = _every_type(app)[name]
    if stamped:
        sig.stamp(mystamp="v")
    back = Signature.from_dict(json.loads(json.dumps(sig)), app=app)
    assert type(back) is type(sig)
    assert back == sig
    assert json.loads(json.dumps(back)) == json.loads(json.dumps(sig))


def test_celery_dicts_round_trip_as_the_same_types(app: Celery, capp: Any) -> None:
    add = capp.tasks["t.add"]
    theirs = {
        "chain": cc.chain(add.s(1), add.s(2)),
        "group": cc.group(add.s(1), add.s(2)),
        "chord": cc.chord([add.s(1), add.s(2)], add.s()),
        "chunks": add.chunks([[1, 2]], 1),
        "xmap": add.map([1]),
        "xstarmap": add.starmap([[1, 2]]),
    }
    for name, sig in theirs.items():
        data = json.loads(json.dumps(sig))
        ours = Signature.from_dict(data, app=app)
        assert type(ours).__name__ == name
        assert json.loads(json.dumps(ours)) == data


def test_register_type_dispatches_from_dict(app: Celery) -> None:
    @Signature.register_type()
    class sigapi_custom(Signature):
        pass

    @Signature.register_type(name="sigapi_named")
    class Named(Signature):
        @classmethod
        def from_dict(cls, data: Any, app: Celery | None = None) -> Named:
            made = cls(dict(data), app=app)
            made["options"]["rebuilt"] = True
            return made

    try:
        assert Signature.TYPES["sigapi_custom"] is sigapi_custom
        plain = {"task": "t.add", "args": [1], "kwargs": {}, "options": {}, "immutable": False}
        custom = Signature.from_dict({**plain, "subtask_type": "sigapi_custom"}, app=app)
        assert isinstance(custom, sigapi_custom)
        assert custom.args == [1]
        named = kc.maybe_signature({**plain, "subtask_type": "sigapi_named"}, app=app)
        assert isinstance(named, Named) and named.options["rebuilt"] is True
    finally:
        Signature.TYPES.pop("sigapi_custom")
        Signature.TYPES.pop("sigapi_named")


def test_clone_replace_and_immutability_like_celery(app: Celery, capp: Any) -> None:
    for add in (app.tasks["t.add"], capp.tasks["t.add"]):
        sig = add.s(2, y=1)
        cloned = sig.clone((1,), {"z": 3}, queue="q")
        assert (list(cloned.args), cloned.kwargs, cloned.options) == (
            [1, 2], {"y": 1, "z": 3}, {"queue": "q"})
        assert sig.options == {} and list(sig.args) == [2]  # the original is untouched
        frozen_args = add.si(2).clone((1,))
        assert list(frozen_args.args) == [2]
        replaced = sig.replace(args=(5,), options={"priority": 1})
        assert (list(replaced.args), replaced.kwargs, replaced.options) == (
            [5], {"y": 1}, {"priority": 1})
        assert sig.partial((9,)).args[0] == 9
        sig.set_immutable(True)
        assert sig.immutable


def test_freeze_keeps_an_id_and_a_group_id(app: Celery) -> None:
    sig = app.tasks["t.add"].s(1)
    first = sig.freeze()
    assert sig.freeze("other").id == first.id
    sig.freeze(group_id="g1")
    sig.freeze(group_id="g2")
    assert sig.options["group_id"] == "g1"


def test_set_immutable_on_canvas(app: Celery) -> None:
    add = app.tasks["t.add"]
    for canvas in (chain(add.s(1), add.s(2)), group(add.s(1), add.s(2))):
        canvas.set_immutable(True)
        assert all(task.immutable for task in canvas.tasks)
    made = chord([add.s(1), add.s(2)], add.s())
    made.set_immutable(True)
    assert all(task.immutable for task in made.tasks)
    assert not made.body.immutable  # Celery: the header only


def test_on_error_and_links_like_celery(app: Celery, capp: Any) -> None:
    for made_app in (app, capp):
        add = made_app.tasks["t.add"]
        sig = add.s(1)
        errback = add.si(0)
        assert sig.on_error(errback) is sig  # chains the signature, not the errback
        assert sig.link_error(add.si(0)) == errback  # an equal errback is not added twice
        assert sig.options["link_error"] == [errback]
        assert sig.link(add.s(2)) == add.s(2)
        sig.extend_list_option("link", [add.s(2), add.s(3)])
        assert sig.options["link"] == [add.s(2), add.s(2), add.s(3)]


def test_group_skew_like_celery(app: Celery, capp: Any) -> None:
    for start, stop, step in ((1.0, None, 1.0), (0.0, 2.0, 0.5), (2.0, 3.0, 1.0)):
        ours = group([app.tasks["t.add"].s(i) for i in range(6)]).skew(start, stop, step)
        theirs = cc.group([capp.tasks["t.add"].s(i) for i in range(6)]).skew(start, stop, step)
        assert ([t.options["countdown"] for t in ours.tasks]
                == [t.options["countdown"] for t in theirs.tasks])


@pytest.mark.parametrize("on_header", [False, True])
def test_chord_link_error_like_celery(app: Celery, capp: Any, on_header: bool) -> None:
    shapes = []
    for mod, made_app in ((kc, app), (cc, capp)):
        add = made_app.tasks["t.add"]
        made_app.conf.task_allow_error_cb_on_chord_header = on_header
        made = mod.chord([add.s(1), mod.chord([add.s(5)], add.s())], add.s())
        with warnings.catch_warnings():  # Celery's pending deprecation of the False default
            warnings.simplefilter("ignore")
            made.link_error(add.si(0))
        shapes.append(json.loads(json.dumps(made)))
    assert shapes[0] == shapes[1]
    header_links = shapes[0]["kwargs"]["header"][0]["options"].get("link_error")
    assert bool(header_links) is on_header


def test_maybe_unroll_group_like_celery(app: Celery, capp: Any) -> None:
    one = group(app.tasks["t.add"].s(1))
    assert maybe_unroll_group(one) == app.tasks["t.add"].s(1)
    two = group(app.tasks["t.add"].s(1), app.tasks["t.add"].s(2))
    assert maybe_unroll_group(two) is two
    theirs = cc.maybe_unroll_group(cc.group(capp.tasks["t.add"].s(1)))
    assert json.loads(json.dumps(maybe_unroll_group(one))) == json.loads(json.dumps(theirs))


def test_introspection_helpers_like_celery(app: Celery, capp: Any) -> None:
    shapes = []
    for mod, made_app in ((kc, app), (cc, capp)):
        add = made_app.tasks["t.add"]
        sig = add.si(1, y=2)
        inner = add.s(3)
        inner.link(add.s(4))
        sig.link(inner)
        sig.root_id = "r"
        sig.parent_id = "p"
        copy = mod.maybe_signature(sig, clone=True)
        assert copy is not sig and copy == sig
        assert mod.maybe_subtask(sig) is sig
        assert sig.AsyncResult("x").id == "x"
        shapes.append((
            [s.task + repr(list(s.args)) for s in sig.flatten_links()],
            sig.reprcall(5, z=6), add.s(1).reprcall(), sig.root_id, sig.parent_id,
            [list(part) if isinstance(part, tuple) else part
             for part in sig._merge((7,), {"k": 1}, None, force=True)[:2]]))
    assert shapes[0] == shapes[1]
