"""The task module the ``Task.replace`` / ``add_to_chord`` tests give their workers.

``SOURCE`` is formatted with the app's imports (``celeriac`` or ``celery``), name, broker and
result store, so one set of tasks runs on celeriac and on real Celery alike. ``scenarios``
runs every workflow through a client of either library and returns what each one gave.
"""

from __future__ import annotations

from typing import Any

SOURCE = """
from {lib} import Celery
from {lib}.canvas import group

app = Celery({name!r}, broker={broker!r}, backend={results!r})
{extra}


@app.task(name="rp.add")
def add(x, y):
    return x + y


@app.task(name="rp.mul")
def mul(x, y):
    return x * y


@app.task(name="rp.xsum")
def xsum(values):
    return sum(values)


@app.task(name="rp.identity")
def identity(value):
    return value


@app.task(name="rp.boom")
def boom(*args):
    return 1 / 0


@app.task(bind=True, name="rp.replace_with")
def replace_with(self, x, kind="task"):
    if kind == "task":
        return self.replace(add.s(x, 1))
    if kind == "group":
        return self.replace(group(add.s(x, 1), add.s(x, 2)))
    if kind == "chain":
        return self.replace(add.s(x, 1) | mul.s(10))
    raise ValueError(kind)


@app.task(bind=True, name="rp.nesting")
def nesting(self, depth):
    if depth:
        return self.replace(nesting.s(depth - 1))
    return self.request.replaced_task_nesting


@app.task(bind=True, name="rp.grow")
def grow(self, x):
    self.add_to_chord(add.s(x, 100))
    return x


@app.task(bind=True, name="rp.grow_outside")
def grow_outside(self):
    try:
        self.add_to_chord(add.s(1, 1))
    except ValueError as exc:
        return str(exc)
    return "added"
"""

T = 30


def scenarios(app: Any, canvas: Any) -> dict[str, Any]:
    """Every replace/add_to_chord workflow, sent with ``app`` and built with ``canvas``
    (``celery.canvas`` or ``celeriac.canvas``); what each one returned."""
    sig = app.signature
    out: dict[str, Any] = {}
    plain = sig("rp.replace_with", (1,)).apply_async()
    out["plain"] = plain.get(timeout=T)
    out["plain_state"] = app.AsyncResult(plain.id).state
    out["group"] = sig("rp.replace_with", (1,), {"kind": "group"}).apply_async().get(timeout=T)
    out["chain"] = sig("rp.replace_with", (1,), {"kind": "chain"}).apply_async().get(timeout=T)
    in_chain = canvas.chain(sig("rp.add", (1, 1)), sig("rp.replace_with"),
                            sig("rp.mul", (10,))).apply_async()
    out["in_chain"] = in_chain.get(timeout=T)
    out["in_chain_parent"] = in_chain.parent.get(timeout=T)
    out["in_group"] = canvas.group(sig("rp.replace_with", (1,)),
                                   sig("rp.replace_with", (5,), {"kind": "group"}),
                                   sig("rp.add", (2, 2))).apply_async().get(timeout=T)
    out["in_chord"] = canvas.chord(
        [sig("rp.replace_with", (1,)), sig("rp.add", (1, 1)),
         sig("rp.replace_with", (2,), {"kind": "group"}),
         sig("rp.replace_with", (3,), {"kind": "chain"})],
        sig("rp.identity")).apply_async().get(timeout=T)
    out["nesting"] = sig("rp.nesting", (3,)).apply_async().get(timeout=T)
    grown = canvas.chord([sig("rp.grow", (1,)), sig("rp.grow", (2,))],
                         sig("rp.identity")).apply_async().get(timeout=T)
    out["add_to_chord"] = sorted(grown)
    out["add_to_chord_outside"] = sig("rp.grow_outside").apply_async().get(timeout=T)
    return out


EXPECTED: dict[str, Any] = {
    "plain": 2,
    "plain_state": "SUCCESS",
    "group": [2, 3],
    "chain": 20,
    "in_chain": 30,
    "in_chain_parent": 3,
    "in_group": [2, [6, 7], 4],
    "in_chord": [2, 2, [3, 4], 40],
    "nesting": 3,
    "add_to_chord": [1, 2, 101, 102],
    "add_to_chord_outside": "Current task is not member of any chord",
}


def _raised(call: Any) -> str:
    try:
        call()
    except Exception as exc:
        return type(exc).__name__
    return "nothing"


def chord_failure(app: Any, canvas: Any) -> dict[str, str]:
    """What a chord whose header task fails raises, read three ways, and a failed chain."""
    sig = app.signature
    failing = canvas.chord([sig("rp.add", (1, 1)), sig("rp.boom")], sig("rp.xsum")).apply_async()
    in_chain = canvas.chain(sig("rp.add", (1, 1)), sig("rp.boom"), sig("rp.add", (3,)))
    chain_result = in_chain.apply_async()
    return {
        "get": _raised(lambda: failing.get(timeout=T)),
        "no_parents": _raised(lambda: failing.get(timeout=T, follow_parents=False)),
        "by_id": _raised(lambda: app.AsyncResult(failing.id).get(timeout=T)),
        "chain": _raised(lambda: chain_result.get(timeout=T)),
    }


CHORD_FAILURE: dict[str, str] = {
    "get": "ZeroDivisionError",
    "no_parents": "ChordError",
    "by_id": "ChordError",
    "chain": "ZeroDivisionError",
}


def frozen_ids(app: Any, canvas: Any) -> dict[str, Any]:
    """Results read through what ``freeze()`` returned, before the canvas was sent: the ids
    it fixed must be the ones the workers store under, wherever the signature sits."""
    sig = app.signature
    out: dict[str, Any] = {}
    step = sig("rp.add", (1, 1))
    step_res = step.freeze()
    canvas.chain(step, sig("rp.add", (2,))).apply_async()
    out["step_in_chain"] = step_res.get(timeout=T)
    whole = canvas.chain(sig("rp.add", (1, 1)), sig("rp.add", (2,)))
    whole_res = whole.freeze()
    whole.apply_async()
    out["chain"] = [whole_res.parent.get(timeout=T), whole_res.get(timeout=T)]
    member = sig("rp.add", (3, 3))
    member_res = member.freeze()
    canvas.group(member, sig("rp.add", (4, 4))).apply_async()
    out["member_in_group"] = member_res.get(timeout=T)
    grp = canvas.group(sig("rp.add", (1, 1)), sig("rp.add", (2, 2)))
    grp_res = grp.freeze()
    grp.apply_async()
    out["group"] = grp_res.get(timeout=T)
    body = sig("rp.xsum")
    body_res = body.freeze()
    header = sig("rp.add", (5, 5))
    header_res = header.freeze()
    canvas.chord([header, sig("rp.add", (1, 1))], body).apply_async()
    out["chord_parts"] = [header_res.get(timeout=T), body_res.get(timeout=T)]
    whole_chord = canvas.chord([sig("rp.add", (1, 1)), sig("rp.add", (2, 2))],
                               sig("rp.xsum"))
    chord_res = whole_chord.freeze()
    whole_chord.apply_async()
    out["chord"] = [chord_res.parent.get(timeout=T), chord_res.get(timeout=T)]
    nested = canvas.chain(sig("rp.add", (0, 0)),
                          canvas.chord([sig("rp.add", (1,)), sig("rp.add", (2,))],
                                       sig("rp.xsum")),
                          sig("rp.add", (5,)))
    nested_res = nested.freeze()
    nested.apply_async()
    out["chord_in_chain"] = [nested_res.parent.get(timeout=T), nested_res.get(timeout=T)]
    return out


FROZEN_IDS: dict[str, Any] = {
    "step_in_chain": 2,
    "chain": [2, 4],
    "member_in_group": 6,
    "group": [2, 4],
    "chord_parts": [10, 12],
    "chord": [[2, 4], 6],
    "chord_in_chain": [3, 8],
}


def check_all(app: Any, canvas: Any) -> None:
    """Every scenario of this module, sent by ``app`` (with ``canvas``), as Celery gives it."""
    assert scenarios(app, canvas) == EXPECTED
    assert chord_failure(app, canvas) == CHORD_FAILURE
    assert frozen_ids(app, canvas) == FROZEN_IDS
