"""``Task.replace`` and ``Task.add_to_chord``: a running task hands its place to other work.

Both follow Celery 5.7 (``celery/app/task.py``) step for step, because user code and Celery
workers sharing a broker rely on the exact shape of what is sent:

* ``replace(sig)``: ``sig`` is frozen with the running task's id, so every ``AsyncResult``
  already handed out (``chain(...).parent``, a ``GroupResult`` member, a chord's header) reads
  the replacement's outcome. It inherits the task's place: its links and errbacks, its chord,
  group and ``group_index`` (so a chord header waits for it and counts it once under the same
  id), its root, and the rest of its chain, which is appended after it. A group is turned into
  a chord into ``celery.accumulate`` so there is one task (with the old id) whose result is the
  group's list. ``replaced_task_nesting`` counts how deep replacements go. The task then ends
  with ``Ignore``: the worker stores nothing for it and sends nothing after it (the
  replacement does all that); in eager mode the replacement runs here and its value is
  returned instead.
* ``add_to_chord(sig)``: ``sig`` joins the chord of the running header task; the store's chord
  counter grows first (``ChordJoin.grow``; on Redis Celery's ``INCR`` of ``<gid>.t``), while the
  caller is still running, so the body cannot fire before the new task is counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from celeriac.exceptions import Ignore, ImproperlyConfigured
from celeriac.utils.functional import as_list

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.canvas.signature import Signature

#: The built-in task a group replacement is chorded into (``canvas.register_builtins``).
ACCUMULATE: Final = "celery.accumulate"


def replacement_for(task: Task[Any, Any], sig: Signature) -> Signature:
    """``sig`` made to take the running task's place (Celery's ``Task.replace`` before
    ``on_replace``); ``sig`` itself is changed and may be wrapped in a chord or a chain.

    Raises:
        ImproperlyConfigured: ``sig`` is already part of a chord, or is an empty chain.
    """
    from celeriac.canvas.chain import _chain
    from celeriac.canvas.group import group
    from celeriac.canvas.signature import signature

    app = task.app
    request = task.request
    if "chord" in sig.options:
        raise ImproperlyConfigured("A signature replacing a task must not be part of a chord")
    if isinstance(sig, _chain) and not sig.tasks:
        raise ImproperlyConfigured("Cannot replace with an empty chain")
    if isinstance(sig, group):
        # uplifted to a chord, so there is one task to carry the id and the links
        sig = sig | app.tasks[ACCUMULATE].s(index=0)
    if isinstance(sig, _chain) and isinstance(sig.tasks[-1], group):
        sig.tasks[-1] = sig.tasks[-1] | app.tasks[ACCUMULATE].s(index=0)
    for callback in as_list(request.callbacks or None):
        sig.link(callback)
    for errback in as_list(request.errbacks or None):
        sig.link_error(errback)
    if isinstance(sig, _chain) and "link" in sig.options:
        # links of a chain run after its last step, once: not on the chain and the step both
        last = sig.tasks[-1]
        last.options.setdefault("link", [])
        last.options["link"].extend(as_list(sig.options.pop("link") or None))
    sig.freeze(request.id)
    nesting = int(request.get("replaced_task_nesting") or 0) + 1
    sig.set(chord=request.chord, group_id=request.group, group_index=request.group_index,
            root_id=request.root_id, replaced_task_nesting=nesting)
    if isinstance(sig, _chain):
        for step in sig.tasks:
            step.set(replaced_task_nesting=nesting)
    for raw in reversed(request.chain or []):
        # the rest of the task's chain follows the replacement, with its ids unchanged
        step = signature(raw, app=app)
        step.set(replaced_task_nesting=nesting)
        sig = sig | step
    return sig


def run_replacement(task: Task[Any, Any], sig: Signature) -> Any:
    """Celery's ``on_replace``: eager, run ``sig`` here and return its value; otherwise send
    it and end the task with ``Ignore``."""
    if task.request.is_eager:
        # Beyond Celery: under task_always_eager Celery refuses this get() ("Never call
        # result.get() within a task"); the replacement already ran here, so reading its
        # value cannot block.
        from celeriac.results.async_result import allow_join_result

        with allow_join_result():
            return sig.apply().get()
    sig.delay()
    raise Ignore("Replaced by new task")


def add_to_chord(task: Task[Any, Any], sig: Signature, lazy: bool = False) -> Any:
    """Celery's ``Task.add_to_chord``: ``sig``'s ``AsyncResult`` (``sig`` itself if ``lazy``,
    to be sent by the caller with ``sig.delay()``).

    Raises:
        ValueError: the running task is not a chord header member (Celery's message).
        NotImplementedError: the result store cannot grow a chord (``UnsupportedByStore``
            for a store without chords).
    """
    request = task.request
    if not request.chord:
        raise ValueError("Current task is not member of any chord")
    sig.set(group_id=request.group, group_index=request.group_index, chord=request.chord,
            root_id=request.root_id)
    sig.freeze()
    task.app.backend.chord_join().grow(str(request.group), 1)
    return sig if lazy else sig.delay()


__all__ = ["ACCUMULATE", "add_to_chord", "replacement_for", "run_replacement"]
