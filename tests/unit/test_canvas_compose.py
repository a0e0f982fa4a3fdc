"""``|`` and ``chain(...)`` build the same canvas as Celery 5.7: the same types and the same
JSON, expression by expression (nested chains flattened, group-then-task upgraded to a chord,
tasks after a chord joining its body, empty and one-member groups unrolled).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac import canvas as kc

celery = pytest.importorskip("celery")
cc = pytest.importorskip("celery.canvas")


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    kapp = Celery("compose_k", broker="memory://compose", set_as_current=False)
    capp = celery.Celery("compose_c", set_as_current=False)
    yield (cc, capp), (kc, kapp)
    kapp.close()


def _s(mod: Any, app: Any, name: str, *args: Any) -> Any:
    return mod.Signature(name, args=args, app=app)


EXPRESSIONS: dict[str, Callable[[Any, Any], Any]] = {
    "task | task": lambda m, a: _s(m, a, "a") | _s(m, a, "b"),
    "task | chain": lambda m, a: _s(m, a, "a") | m.chain(_s(m, a, "b"), _s(m, a, "c")),
    "chain | chain": lambda m, a: m.chain(_s(m, a, "a"), _s(m, a, "b")) | m.chain(
        _s(m, a, "c"), _s(m, a, "d")),
    "chain of chains": lambda m, a: m.chain(m.chain(_s(m, a, "a"), _s(m, a, "b")),
                                            _s(m, a, "c"), m.chain(_s(m, a, "d"))),
    "chain of one task": lambda m, a: m.chain(_s(m, a, "a")),
    "chain of a list of one": lambda m, a: m.chain([_s(m, a, "a")]),
    "chain of a chain of one": lambda m, a: m.chain([m.chain(_s(m, a, "a"))]),
    "group then task": lambda m, a: m.chain(_s(m, a, "a"), m.group(_s(m, a, "b"), _s(m, a, "c")),
                                            _s(m, a, "d")),
    "group | task": lambda m, a: m.group(_s(m, a, "a"), _s(m, a, "b")) | _s(m, a, "c"),
    "group | group": lambda m, a: m.group(_s(m, a, "a"), _s(m, a, "b")) | m.group(
        _s(m, a, "c"), _s(m, a, "d")),
    "chord | task": lambda m, a: m.chord([_s(m, a, "a")], _s(m, a, "b")) | _s(m, a, "c"),
    "chord | group of one": lambda m, a: m.chord([_s(m, a, "a")], _s(m, a, "b")) | m.group(
        _s(m, a, "c")),
    "chain ending in chord | task": lambda m, a: m.chain(
        _s(m, a, "x"), m.chord([_s(m, a, "a")], _s(m, a, "b"))) | _s(m, a, "c"),
    "chain | group of one": lambda m, a: m.chain(_s(m, a, "a"), _s(m, a, "b")) | m.group(
        _s(m, a, "c")),
    "chain | empty group": lambda m, a: m.chain(_s(m, a, "a"), _s(m, a, "b")) | m.group([]),
    "task | group": lambda m, a: _s(m, a, "a") | m.group(_s(m, a, "b"), _s(m, a, "c")),
    "two groups in a chain": lambda m, a: m.chain(
        m.group(_s(m, a, "a"), _s(m, a, "b")), m.group(_s(m, a, "c"), _s(m, a, "d")),
        _s(m, a, "e")),
    "chain of a group": lambda m, a: m.chain([m.group(_s(m, a, "a"), _s(m, a, "b"))]),
    "chain with links": lambda m, a: _s(m, a, "x") | _linked_chain(m, a),
}


def _linked_chain(m: Any, a: Any) -> Any:
    made = m.chain(_s(m, a, "a"), _s(m, a, "b"))
    made.link(_s(m, a, "cb"))
    made.link_error(_s(m, a, "eb"))
    return made


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_composition_like_celery(pair: tuple[Any, Any], name: str) -> None:
    (cmod, capp), (kmod, kapp) = pair
    theirs, ours = EXPRESSIONS[name](cmod, capp), EXPRESSIONS[name](kmod, kapp)
    assert type(ours).__name__.lstrip("_") == type(theirs).__name__.lstrip("_")
    assert json.loads(json.dumps(ours)) == json.loads(json.dumps(theirs))


def test_in_place_or_composes(pair: tuple[Any, Any]) -> None:
    _, (kmod, kapp) = pair
    sig = _s(kmod, kapp, "a")
    sig |= _s(kmod, kapp, "b")
    assert isinstance(sig, kmod.chain) and [t.task for t in sig.tasks] == ["a", "b"]


def test_chain_with_options_keeps_steps_as_given(pair: tuple[Any, Any]) -> None:
    _, (kmod, kapp) = pair
    made = kmod.chain(kmod.chain(_s(kmod, kapp, "a"), _s(kmod, kapp, "b")), _s(kmod, kapp, "c"),
                      app=kapp)
    assert isinstance(made.tasks[0], kmod.chain)  # as Celery: options mean no folding
