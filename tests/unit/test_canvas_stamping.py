"""Stamping, compared with real Celery 5.7: the same ``stamp()`` calls on the same canvas give
the same signature dicts, and the same message headers (``stamped_headers``/``stamps``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac import canvas as kc
from celeriac.app.send import build_outbound
from celeriac.canvas.stamping import StampingVisitor, merge_dictionaries

celery = pytest.importorskip("celery")
cc = pytest.importorskip("celery.canvas")


@pytest.fixture
def apps() -> Iterator[tuple[Any, Celery]]:
    capp = celery.Celery("stamp_c", set_as_current=False)
    kapp = Celery("stamp_k", broker="memory://stamping", set_as_current=False)
    yield capp, kapp
    kapp.close()


def _visitor(base: type) -> Any:
    """The same visitor written against either library's ``StampingVisitor``."""

    class Visitor(base):  # type: ignore[misc]
        def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
            return {"sig": sig["task"]}

        def on_group_start(self, group: Any, **headers: Any) -> dict[str, Any]:
            return {"grp": "g"}

        def on_chain_start(self, chain: Any, **headers: Any) -> dict[str, Any]:
            return {"chn": ["c"]}

        def on_callback(self, callback: Any, **headers: Any) -> dict[str, Any]:
            return {"cb": "1"}

        def on_errback(self, errback: Any, **headers: Any) -> dict[str, Any]:
            return {"eb": "1"}

        def on_chord_body(self, chord: Any, **headers: Any) -> dict[str, Any]:
            return {"body": "1"}

    return Visitor()


def _linked(mod: Any, app: Any) -> Any:
    sig = mod.Signature("t.a", args=(1,), app=app)
    sig.link(mod.Signature("t.cb", app=app))
    sig.link_error(mod.Signature("t.eb", app=app))
    return sig


CANVASES: dict[str, Callable[[Any, Any], Any]] = {
    "signature with links": _linked,
    "group of chain and task": lambda mod, app: mod.group(
        mod.chain(mod.Signature("t.a", app=app), mod.Signature("t.b", app=app)),
        mod.Signature("t.c", app=app)),
    "chord": lambda mod, app: mod.chord(
        [mod.Signature("t.a", app=app), mod.Signature("t.b", app=app)],
        mod.Signature("t.body", app=app)),
    "chain": lambda mod, app: mod.chain(mod.Signature("t.a", args=(1,), app=app),
                                        mod.Signature("t.b", app=app)),
    "group with linked member": lambda mod, app: mod.group(
        [_linked(mod, app), mod.Signature("t.z", app=app)]),
}


def _normal(value: Any) -> Any:
    """JSON shape with ``stamped_headers`` sorted (Celery dedups through a set) and a chord
    header that Celery's visitor turned into a group shown as its member list."""
    if isinstance(value, dict):
        kwargs: Any = value.get("kwargs")
        if value.get("subtask_type") == "chord" and isinstance(kwargs.get("header"), dict):
            kwargs["header"] = kwargs["header"]["kwargs"]["tasks"]
        return {key: sorted(item) if key == "stamped_headers" else _normal(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_normal(item) for item in value]
    return value


@pytest.mark.parametrize("name", sorted(CANVASES))
@pytest.mark.parametrize("use_visitor", [False, True])
@pytest.mark.parametrize("append_stamps", [False, True])
def test_stamps_like_celery(apps: tuple[Any, Celery], name: str, use_visitor: bool,
                            append_stamps: bool) -> None:
    capp, kapp = apps
    theirs, ours = CANVASES[name](cc, capp), CANVASES[name](kc, kapp)
    for value in ("x", "y"):  # a second stamp over the first: replaced, or appended
        theirs.stamp(_visitor(cc.StampingVisitor) if use_visitor else None, append_stamps,
                     mystamp=value)
        ours.stamp(_visitor(StampingVisitor) if use_visitor else None, append_stamps,
                   mystamp=value)
    assert _normal(json.loads(json.dumps(ours))) == _normal(json.loads(json.dumps(theirs)))


def test_visitor_must_define_on_signature() -> None:
    with pytest.raises(TypeError):
        StampingVisitor()  # type: ignore[abstract]


@pytest.mark.parametrize("aggregate", [False, True])
def test_merge_dictionaries_like_celery(aggregate: bool) -> None:
    def sample() -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"dict": {"a": 1}, "list": [1, 2], "tuple": (1, 2), "s": "x", "n": None},
                {"dict": {"b": 2}, "list": [3, 4], "set": {"a"}, "s": "y", "n": 3, "tuple": 5})

    ours, theirs = sample(), sample()
    merge_dictionaries(ours[0], ours[1], aggregate)
    cc._merge_dictionaries(theirs[0], theirs[1], aggregate)
    assert ours[0] == theirs[0]


def test_message_headers_match_celery(apps: tuple[Any, Celery]) -> None:
    capp, kapp = apps
    ours, theirs = kc.Signature("t.a", app=kapp), cc.Signature("t.a", app=capp)
    ours.stamp(mystamp="v", other=["a", "b"])
    theirs.stamp(mystamp="v", other=["a", "b"])
    outbound, _, _ = build_outbound(kapp, "t.a", (), {}, dict(ours.options))
    options = dict(theirs.options)
    message = capp.amqp.as_task_v2("id-1", "t.a", (), {}, **options)
    ours_headers = outbound.message.headers
    assert sorted(ours_headers["stamped_headers"]) == sorted(message.headers["stamped_headers"])
    assert ours_headers["stamps"] == message.headers["stamps"] == {"mystamp": "v",
                                                                   "other": ["a", "b"]}


def test_unstamped_message_headers_match_celery(apps: tuple[Any, Celery]) -> None:
    capp, kapp = apps
    outbound, _, _ = build_outbound(kapp, "t.a", (), {}, {})
    message = capp.amqp.as_task_v2("id-1", "t.a", (), {})
    for key in ("stamped_headers", "stamps"):
        assert outbound.message.headers[key] == message.headers[key]


def test_stamps_are_not_overridden_by_later_options(apps: tuple[Any, Celery]) -> None:
    capp, kapp = apps
    for mod, app in ((cc, capp), (kc, kapp)):
        sig = mod.Signature("t.a", app=app, group_id="g1")
        sig.stamp(mystamp="kept")
        clone = sig.clone(mystamp="new", group_id="g2", queue="q")
        assert (clone.options["mystamp"], clone.options["group_id"],
                clone.options["queue"]) == ("kept", "g1", "q"), mod
        merged = sig._merge((), {}, {"mystamp": "new", "priority": 3})[2]
        assert (merged["mystamp"], merged["priority"]) == ("kept", 3), mod


def test_chord_body_stamped_only_through_a_visitor(apps: tuple[Any, Celery]) -> None:
    _, kapp = apps
    plain = kc.chord([kc.Signature("t.a", app=kapp)], kc.Signature("t.body", app=kapp))
    plain.stamp(mystamp="v")
    assert "mystamp" not in plain.body.options  # Celery 5.7 does the same
    visited = kc.chord([kc.Signature("t.a", app=kapp)], kc.Signature("t.body", app=kapp))
    visited.stamp(_visitor(StampingVisitor), mystamp="v")
    assert visited.body.options["mystamp"] == "v"
    assert visited.body.options["body"] == "1"
