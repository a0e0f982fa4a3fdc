"""``chain``: steps run one after the other, each result passed on as the next step's first
argument (unless the next step is immutable).

A chain is published as **one** message for its first step; the rest ride in that message's
``chain`` embed, last step first, each with its id fixed in advance (wire-protocol.md §1.7).
The worker that finishes a step publishes the next one (``execution.callbacks``), so the chain
needs no coordinator and its result (the last step's ``AsyncResult``, with ``.parent`` links
back to the first) is known the moment it is sent. ``group | sig`` inside a chain becomes a
chord, as in Celery.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.canvas.signature import Signature, maybe_signature, register_type
from celeriac.canvas.stamping import StampingVisitor, stamp_members
from celeriac.utils.functional import as_list

if TYPE_CHECKING:
    from celeriac.app.base import Celery


@register_type("chain")
class _chain(Signature):
    """The chain canvas type (``chain`` is the public constructor)."""

    def __init__(self, *tasks: Any, **options: Any) -> None:
        app = options.pop("app", None)
        steps: Any = tasks
        if len(tasks) == 1 and not isinstance(tasks[0], Mapping):
            steps = tasks[0]
        members = [maybe_signature(step, app=app) for step in steps]
        if app is None:
            app = next((m._app for m in members if isinstance(m, Signature) and m._app), None)
        super().__init__("celery.chain", (), {"tasks": members}, options=options,
                         subtask_type="chain", app=app)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> _chain:
        steps = list((data.get("kwargs") or {}).get("tasks") or ())
        if steps and data.get("args"):
            first = maybe_signature(steps[0], app=app).clone(data.get("args"), data.get("kwargs"))
            steps[0] = first
        made = chain(*steps, app=app, **dict(data.get("options") or {}))
        made["immutable"] = bool(data.get("immutable"))
        return made

    @property
    def tasks(self) -> list[Any]:
        steps: list[Any] = self["kwargs"]["tasks"]
        return steps

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tasks)

    def __or__(self, other: Any) -> Any:
        from celeriac.canvas.compose import or_chain

        return or_chain(self, other)

    def unchain_tasks(self) -> list[Signature]:
        """Clones of the steps, the chain's links on the last, its errbacks on each."""
        from celeriac.canvas.compose import unchain_tasks

        return unchain_tasks(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def set_immutable(self, immutable: bool) -> None:
        for task in self.tasks:
            task.set_immutable(immutable)

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every step (and the chain's own links)."""
        stamp_members(self, self.tasks, visitor, append_stamps, "on_chain_start",
                      "on_chain_end", **headers)

    def link(self, callback: Mapping[str, Any]) -> Any:
        """Links go to the last step: they run when the whole chain has succeeded."""
        return self.tasks[-1].link(callback) if self.tasks else super().link(callback)

    def link_error(self, errback: Mapping[str, Any]) -> Any:
        """Every step gets the errback: any of them may fail."""
        for task in self.tasks:
            maybe_signature(task, app=self._app).link_error(errback)
        return errback

    # -- running ------------------------------------------------------------------------
    def prepare_steps(self, args: Sequence[Any], kwargs: Mapping[str, Any] | None,
                      options: dict[str, Any]) -> tuple[list[Signature], list[Any]]:
        """Frozen steps, last first (the ``chain`` embed order), and their results.

        The first step gets the partial ``args``; ``task_id``/``group_id``/``group_index``/
        ``chord`` in ``options`` describe the chain's *last* step (a chain inside a group or
        chord header completes when its last step does).
        """
        from celeriac.canvas.chord import chord
        from celeriac.canvas.group import group

        steps = _unroll(self.tasks, self._app)
        last_id = options.pop("task_id", None)
        group_id, group_index = options.pop("group_id", None), options.pop("group_index", None)
        chord_body = options.pop("chord", None)
        root_id = options.get("root_id")
        link_error = options.pop("link_error", None)
        tasks: list[Signature] = []
        results: list[Any] = []
        prev_task: Signature | None = None
        prev_res: Any = None
        while steps:
            task = steps.pop()
            task = task.clone(args, kwargs) if not steps else task.clone()
            if isinstance(task, group) and prev_task is not None:
                tasks.pop()
                body_res = results.pop()
                task = chord(task, body=prev_task, app=self._app)
                prev_task = tasks[-1] if tasks else None
                prev_res = _detach(results[-1] if results else None, body_res)
            if not tasks and not results:
                res = task.freeze(last_id, root_id=root_id, group_id=group_id,
                                  chord=chord_body, group_index=group_index)
            else:
                res = task.freeze(root_id=root_id)
            if prev_res is not None and getattr(prev_res, "parent", None) is None:
                prev_res.parent = res
            for errback in as_list(link_error):
                task.link_error(errback)
            tasks.append(task)
            results.append(res)
            prev_task, prev_res = task, _root_of(res) if isinstance(task, chord) else res
        return tasks, results

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Send the first step with the rest in its ``chain`` embed; return the last result."""
        app = self.app
        merged = {**self["options"], **{k: v for k, v in options.items() if v is not None}}
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **merged)
        partial = list(args or ())
        if not self.immutable:
            partial += list(self["args"])
        link = merged.pop("link", None)
        tasks, results = self.prepare_steps(partial, kwargs, merged)
        if not tasks:
            raise ValueError("Cannot apply an empty chain")
        if link:
            for callback in as_list(link):
                tasks[0].link(callback)
        first = tasks.pop()
        merged.pop("chain", None)
        first_result = first.apply_async(chain=[dict(t) for t in tasks] or None, **merged)
        return first_result if not tasks else results[0]

    def apply(self, args: Sequence[Any] | None = None,
              kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Run every step here, in order (eager mode)."""
        last: Any = None
        call_args: Sequence[Any] | None = args
        call_kwargs = kwargs
        for step in self.tasks:
            res = maybe_signature(step, app=self._app).clone().apply(call_args, call_kwargs)
            res.parent, last = last, res
            call_args, call_kwargs = (res.get(disable_sync_subtasks=False),), None
        return last

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Any = None, root_id: str | None = None, parent_id: str | None = None,
               group_index: int | None = None) -> Any:
        """Fix every step's id in place (so a later send reuses them); return the last result."""
        options: dict[str, Any] = {"task_id": _id or self["options"].get("task_id"),
                                   "group_id": group_id, "chord": chord, "root_id": root_id,
                                   "group_index": group_index}
        tasks, results = self.prepare_steps(list(self["args"]), None, options)
        self["kwargs"]["tasks"] = list(reversed(tasks))
        self["args"] = []
        return results[0] if results else None

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks) if self.tasks else "chain()"


class chain(_chain):
    """``chain(a, b, c)`` (or ``a | b | c``); a chain of one step is just that step's call.

    Called with tasks alone it folds them as ``a | b | c`` would (``canvas.compose``), so it
    may return a chord or a group, as Celery's does.
    """

    def __new__(cls, *tasks: Any, **options: Any) -> Any:
        if not options and tasks and (len(tasks) != 1 or _is_list(tasks[0])):
            from celeriac.canvas.compose import fold_chain

            made = fold_chain(list(tasks[0] if len(tasks) == 1 else tasks))
            if isinstance(made, cls):
                # __init__, which Python calls next, must not rebuild it
                made.__dict__["_built"] = True
            return made
        return super().__new__(cls)

    def __init__(self, *tasks: Any, **options: Any) -> None:
        if self.__dict__.pop("_built", False):
            return
        super().__init__(*tasks, **options)


def _is_list(value: Any) -> bool:
    """Celery's ``is_list``: an iterable that is neither a mapping nor a string."""
    return isinstance(value, Iterable) and not isinstance(value, Mapping | str)


def _unroll(tasks: Sequence[Any], app: Celery | None) -> list[Signature]:
    """Nested chains spliced in; empty groups dropped unless they are all there is."""
    from celeriac.canvas.group import group

    out: list[Signature] = []
    for item in tasks:
        sig = maybe_signature(item, app=app)
        if isinstance(sig, _chain):
            out.extend(_unroll(sig.tasks, app))
        elif isinstance(sig, group) and not sig.tasks and len(tasks) > 1:
            continue
        else:
            out.append(sig)
    return out


def _root_of(res: Any) -> Any:
    node = res
    while getattr(node, "parent", None) is not None:
        node = node.parent
    return node


def _detach(node: Any, body_res: Any) -> Any:
    """Unhook the later steps from a body result that became a chord's; see Celery #9608."""
    current = node
    while current is not None and getattr(current, "parent", None) is not body_res:
        current = getattr(current, "parent", None)
    if current is not None:
        current.parent = None
        return current
    return node


__all__ = ["chain"]
