"""saferepr: Celery's argsrepr/kwargsrepr format, truncation and depth limit."""

from __future__ import annotations

import random
from collections import OrderedDict, namedtuple
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from celeriac.utils.saferepr import saferepr

celery_saferepr = pytest.importorskip("celery.utils.saferepr").saferepr

Point = namedtuple("Point", "x y")


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class MySet(set[int]):
    pass


SAMPLES: list[Any] = [
    (2, 3),
    (),
    (1,),
    [],
    {},
    {"a": 1, "b": [1, 2]},
    ("it's", 'say "hi"', "back\\slash", "new\nline", "tab\t", "é ünïcode", "\x00"),
    (b"raw", b"\xff\x00", bytearray(b"ba")),
    ({1, 2}, frozenset({3}), set(), frozenset(), MySet({4})),
    (1.5, float("inf"), True, None, Decimal("1.10"), Fraction(1, 3), 10**30, -7),
    (Point(1, 2), OrderedDict(a=1), range(3)),
    ([[[[1]]]],),
    ([[[1]]],),
    ({"a": {"b": {"c": {"d": 1}}}},),
    ((((1,),),),),
    (list(range(1000)),),
    ("x" * 2000,),
    ({"k" * 50: "v" * 2000},),
    ({"y": {"k": "v" * 2000}},),
    (list(range(600)), [[[[1]]]], "it's " * 10),
    ("word " * 400,),
    ([1, [2, [3, [4, [5]]]]], {"deep": [{"deeper": [1]}]}),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize("maxlen", [1024, 100, 40, 10, 3, 1])
def test_matches_celery(value: Any, maxlen: int) -> None:
    assert saferepr(value, maxlen) == celery_saferepr(value, maxlen)


@pytest.mark.parametrize("maxlevels", [0, 1, 2, 3, 5])
def test_depth_limit_matches_celery(maxlevels: int) -> None:
    value = ([1, [2, [3, [4, [5, (6,)]]]]], {"a": {"b": {"c": {1, 2}}}})
    assert saferepr(value, 1024, maxlevels) == celery_saferepr(value, 1024, maxlevels=maxlevels)


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 4 else 5)
    scalars: list[Any] = [
        rng.randrange(-(10**6), 10**6),
        rng.random(),
        "".join(rng.choice("ab 'c\\\"\n") for _ in range(rng.randrange(12))),
        None,
        rng.random() < 0.5,
    ]
    if kind < 5:
        return scalars[kind]
    items = [_random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    if kind == 5:
        return items
    if kind == 6:
        return tuple(items)
    if kind == 7:
        return {f"k{i}": item for i, item in enumerate(items)}
    return {item for item in items if isinstance(item, int | str)}


def test_random_structures_match_celery() -> None:
    rng = random.Random(1234)
    for _ in range(400):
        value = _random_value(rng, 0)
        maxlen = rng.choice([1024, 80, 25, 7])
        assert saferepr(value, maxlen) == celery_saferepr(value, maxlen), value


def test_small_args_take_the_builtin_repr() -> None:
    assert saferepr((2, 3)) == "(2, 3)"
    assert saferepr({"name": "x", "n": [1, 2.5, None, True]}) == repr(
        {"name": "x", "n": [1, 2.5, None, True]}
    )


def test_output_is_truncated_near_maxlen_with_balanced_brackets() -> None:
    text = saferepr((list(range(10_000)),), 1024)
    assert 1024 <= len(text) <= 1040
    assert text.endswith(", ...],)")


def test_nested_beyond_three_levels_is_elided() -> None:
    assert saferepr(([[[[1]]]],)) == "([[[...]]],)"


def test_broken_repr_does_not_raise() -> None:
    assert saferepr((Broken(),)).startswith("(<Unrepresentable ")


def test_recursive_structure_terminates() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert saferepr(loop, 1024, 0) == celery_saferepr(loop, 1024, maxlevels=0)
    assert "Recursion on list" in saferepr(loop, 1024, 0)
