"""How ``|`` and ``chain(...)`` combine canvas parts: Celery 5.7's rules, so the canvas a user
builds has the same shape (``.tasks``, JSON) on both sides.

* ``chain(a, chain(b, c))`` is ``chain(a, b, c)``: nested chains are spliced in, the inner
  chain's links going to its last step and its errbacks to each of its steps;
* a group followed by a task becomes a chord (``group | task``, ``chain(g, t)``); a task after a
  chord joins the chord's body (``chord | task``);
* an empty group is dropped and a group of one task is that task (``maybe_unroll_group``);
* ``chain(a)`` of one signature stays a chain; ``chain([group])`` is the group itself.

Like Celery, ``chain(...)`` folds only when called with tasks alone: with options (``app=``,
``queue=``...) the steps are kept as given (the worker-side ``prepare_steps`` upgrades a group
followed by a task to a chord either way, so both shapes run alike).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce
from typing import Any

from celeriac.canvas.signature import Signature, maybe_signature
from celeriac.utils.functional import as_list


def is_empty_group(task: Any) -> bool:
    from celeriac.canvas.group import group

    return isinstance(task, group) and not task.tasks


def unchain_tasks(chain_sig: Any) -> list[Signature]:
    """Clones of the chain's steps, its links on the last, its errbacks on every step."""
    tasks: list[Signature] = [maybe_signature(t, app=chain_sig._app).clone()
                              for t in chain_sig.tasks]
    for callback in as_list(chain_sig.options.get("link")):
        tasks[-1].link(callback)
    for errback in as_list(chain_sig.options.get("link_error")):
        for task in tasks:
            task.link_error(errback)
    return tasks


def _merge_step(steps: list[Signature], other: Signature, clone_other: bool) -> Any:
    """Add ``other`` to ``steps`` by the ``chain | other`` rules; return ``steps``, or what
    the canvas became when it stopped being a chain (Celery's ``_merge_chain_step``)."""
    from celeriac.canvas.chain import _chain
    from celeriac.canvas.chord import chord
    from celeriac.canvas.group import group, maybe_unroll_group

    if is_empty_group(other):
        return steps
    if isinstance(other, group):
        other = maybe_unroll_group(other)
        if not isinstance(other, group):
            return _merge_step(steps, other, clone_other)
        if not steps:
            return other
        if isinstance(steps[-1], chord):
            steps[-1].body = steps[-1].body | other
            return steps
        steps.append(other.clone() if clone_other else other)
        return steps
    if isinstance(other, _chain):
        inner = unchain_tasks(other)
        for position, task in enumerate(inner):
            result = _merge_step(steps, task, clone_other or position != len(inner) - 1)
            if result is not steps:
                return reduce(operator.or_, inner[position + 1:], result)
        return steps
    if steps and isinstance(steps[-1], group):
        steps[-1] = chord(steps[-1], other.clone() if clone_other else other)
        return steps
    if steps and isinstance(steps[-1], chord) and not isinstance(other, chord):
        steps[-1].body = steps[-1].body | other
        return steps
    steps.append(other.clone() if clone_other else other)
    return steps


def fold_chain(tasks: Sequence[Any]) -> Any:
    """``chain(*tasks)`` as ``tasks[0] | tasks[1] | ...`` would build it, in one pass."""
    from celeriac.canvas.chain import chain

    items = [maybe_signature(task) for task in tasks]
    for item in items:
        if not isinstance(item, Signature):
            raise TypeError(f"Cannot chain {item!r}: not a signature")
    steps: list[Signature] = []
    for position, task in enumerate(items):
        result = _merge_step(steps, task, position != len(items) - 1)
        if result is not steps:
            return reduce(operator.or_, items[position + 1:], result)
    app = next((s._app for s in steps if s._app is not None), None)
    return chain([step.clone() for step in steps[:-1]] + steps[-1:], app=app)


def or_signature(left: Signature, other: Any) -> Any:
    """``task | other``: a chain of the two (the other chain's steps spliced in)."""
    from celeriac.canvas.chain import _chain, chain
    from celeriac.canvas.group import group, maybe_unroll_group

    if isinstance(other, _chain):
        return chain([left, *unchain_tasks(other)], app=left._app)
    if isinstance(other, group):
        return chain([left, maybe_unroll_group(other)], app=left._app)
    if isinstance(other, Signature):
        return chain([left, other], app=left._app)
    return NotImplemented


def or_chain(left: Any, other: Any) -> Any:
    """``chain | other`` (Celery's ``_chain.__or__``)."""
    from celeriac.canvas.chain import _chain
    from celeriac.canvas.chord import chord
    from celeriac.canvas.group import group, maybe_unroll_group

    make = type(left)
    if is_empty_group(other):
        return left
    if isinstance(other, group):
        other = maybe_unroll_group(other)
        if not isinstance(other, group):
            return or_chain(left, other)
        tasks = unchain_tasks(left) if left.tasks else []
        if not tasks:
            return other
        if isinstance(tasks[-1], chord):
            tasks[-1].body = tasks[-1].body | other
            return make(tasks, app=left._app)
        return make([*tasks, other], app=left._app)
    if isinstance(other, _chain):
        return reduce(operator.or_, unchain_tasks(other), left)
    if not isinstance(other, Signature):
        return NotImplemented
    last = maybe_signature(left.tasks[-1], app=left._app) if left.tasks else None
    if isinstance(last, group):
        made = left.clone()
        made.tasks[-1] = chord(made.tasks[-1], other, app=left._app)
        if len(made.tasks) > 1 and isinstance(made.tasks[-2], chord):
            made.tasks[-2].body = made.tasks[-2].body | made.tasks[-1]
            del made.tasks[-1]
        return made
    if isinstance(last, chord) and not isinstance(other, chord):
        made = left.clone()
        made.tasks[-1].body = made.tasks[-1].body | other
        return made
    return make([*(unchain_tasks(left) if left.tasks else []), other], app=left._app)


def or_group(left: Any, other: Any) -> Any:
    """``group | other``: a chord with ``other`` as body (an empty group changes nothing)."""
    from celeriac.canvas.chord import chord

    if is_empty_group(other):
        return left
    if not isinstance(other, Signature):
        return NotImplemented
    return chord(left, body=other, app=left._app)


def or_chord(left: Any, other: Any) -> Any:
    """``chord | task``: the task joins the body; anything else chains after the chord."""
    from celeriac.canvas.chain import _chain
    from celeriac.canvas.group import group, maybe_unroll_group

    if isinstance(other, Signature) and not isinstance(other, group | _chain):
        made = left.clone()
        made.body = made.body | other
        return made
    if isinstance(other, group) and len(other.tasks) == 1:
        made = left.clone()
        made.body = made.body | maybe_unroll_group(other)
        return made
    return or_signature(left, other)


__all__ = ["fold_chain", "is_empty_group", "or_chain", "or_chord", "or_group", "or_signature",
           "unchain_tasks"]
