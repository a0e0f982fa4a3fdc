"""``group``: tasks run in parallel, with one ``GroupResult`` for all of them.

On the wire a group is nothing but its members' messages, each with the shared ``group``
header and its ``group_index`` (wire-protocol.md §1.7). When the group is a chord header, the
chord size is written to the result store before any member message leaves (§4.4, pitfall
§7.13), and members carry the body in ``embed.chord``. All member messages are published in
one batch, so a 10,000-task group costs one broker round trip, not 10,000.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.canvas.signature import Signature, maybe_signature, register_type
from celeriac.canvas.stamping import StampingVisitor, stamp_members

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.results.group_result import GroupResult


def _as_task_list(tasks: tuple[Any, ...], app: Celery | None) -> list[Any]:
    """``group(a, b)``, ``group([a, b])``, ``group(gen)`` and ``group(other_group)`` alike."""
    items: Any = tasks
    if len(tasks) == 1:
        only = tasks[0]
        if isinstance(only, group):
            items = only.tasks
        elif isinstance(only, Mapping):
            items = [only]
        else:
            items = only
    return [maybe_signature(item, app=app) for item in items]


@register_type("group")
class group(Signature):
    """``group(sig, sig, ...)`` or ``group(iterable)``; ``apply_async`` gives a ``GroupResult``."""

    def __init__(self, *tasks: Any, **options: Any) -> None:
        app = options.pop("app", None)
        members = _as_task_list(tasks, app)
        if app is None:
            app = next((m._app for m in members if isinstance(m, Signature) and m._app), None)
        super().__init__("celery.group", (), {"tasks": members}, options=options,
                         subtask_type="group", app=app)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> group:
        made = cls(list((data.get("kwargs") or {}).get("tasks") or ()), app=app,
                   **dict(data.get("options") or {}))
        made["immutable"] = bool(data.get("immutable"))
        return made

    @property
    def tasks(self) -> list[Any]:
        members: list[Any] = self["kwargs"]["tasks"]
        return members

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tasks)

    def __or__(self, other: Any) -> Any:
        from celeriac.canvas.compose import or_group

        return or_group(self, other)

    def set_immutable(self, immutable: bool) -> None:
        for task in self.tasks:
            task.set_immutable(immutable)

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp every member (and the group's own links)."""
        stamp_members(self, self.tasks, visitor, append_stamps, "on_group_start",
                      "on_group_end", **headers)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Give the members growing countdowns: ``start``, ``start + step``, ... up to ``stop``
        (then repeated), so they do not all start at once (Celery's ``group.skew``)."""
        values = _fxrange(start, stop, step)
        for task in self.tasks:
            task.set(countdown=next(values))
        return self

    def link(self, callback: Mapping[str, Any]) -> Any:
        """As Celery: linked to the first task, made immutable (use a chord to get results)."""
        sig = maybe_signature(callback, app=self._app).clone().set(immutable=True)
        return self.tasks[0].link(sig)

    def link_error(self, errback: Mapping[str, Any]) -> Any:
        """Any member may fail, so every member gets the errback."""
        sig = maybe_signature(errback, app=self._app)
        return tuple(task.link_error(sig.clone()) for task in self.tasks)

    # -- running ------------------------------------------------------------------------
    def _group_id(self, options: dict[str, Any]) -> str:
        return str(options.pop("task_id", None) or self["options"].get("task_id")
                   or uuid.uuid4())

    def prepared(self, group_id: str, root_id: str | None, chord_body: Any,
                 parent_id: str | None = None) -> list[tuple[Signature, Any]]:
        """Members as frozen clones with their results; nested groups are flattened in order."""
        out: list[tuple[Signature, Any]] = []
        for task in _flatten(self.tasks, self._app):
            res = task.freeze(group_id=group_id, root_id=root_id, chord=chord_body,
                              group_index=len(out), parent_id=parent_id)
            out.append((task, res))
        return out

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, add_to_parent: bool = True,
                    link: Any = None, link_error: Any = None, **options: Any) -> GroupResult:
        """Send every member (one batch) and return their ``GroupResult``.

        Raises:
            TypeError: ``link``/``link_error`` given (as Celery: use a chord, or link the
                members).
        """
        if link is not None:
            raise TypeError("Cannot add link to group: use a chord")
        if link_error is not None:
            raise TypeError("Cannot add link to group: do that on individual tasks")
        from celeriac.results.group_result import GroupResult

        app = self.app
        merged = {**{k: v for k, v in self["options"].items() if k != "task_id"}, **options}
        gid = self._group_id(dict(self["options"], **options))
        merged.pop("task_id", None)
        chord_body = merged.pop("chord", None)
        merged.pop("chain", None)
        for key in ("group_id", "group_index"):
            merged.pop(key, None)
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **merged)
        members = self.prepared(gid, merged.pop("root_id", None), chord_body,
                                merged.pop("parent_id", None))
        if chord_body is not None and members:
            app.backend.chord_join().set_size(gid, sum(descend(sig) for sig, _ in members))
        with app.publish_batch():
            for sig, _ in members:
                sig.apply_async(args, kwargs, **merged)
        return GroupResult(gid, [res for _, res in members], app=app)

    def apply(self, args: Sequence[Any] | None = None,
              kwargs: Mapping[str, Any] | None = None, **options: Any) -> GroupResult:
        from celeriac.results.group_result import GroupResult

        gid = self._group_id(dict(options))
        results = [task.clone().apply(args, kwargs) for task in _flatten(self.tasks, self._app)]
        return GroupResult(gid, results, app=self.app)

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Any = None, root_id: str | None = None, parent_id: str | None = None,
               group_index: int | None = None) -> GroupResult:
        """Fix the group id and every member's id in place; return the future GroupResult."""
        from celeriac.results.group_result import GroupResult

        opts = self["options"]
        gid = opts.get("task_id") or _id or str(uuid.uuid4())
        opts["task_id"] = gid
        if chord:
            opts["chord"] = chord
        if group_index is not None:
            opts["group_index"] = group_index
        root_id = opts.setdefault("root_id", root_id)
        members = _flatten(self.tasks, self._app, clone=False)
        self["kwargs"]["tasks"] = members
        results = [task.freeze(group_id=gid, root_id=root_id, chord=chord, group_index=index,
                               parent_id=parent_id) for index, task in enumerate(members)]
        return GroupResult(str(gid), results, app=self.app)

    def __call__(self, *args: Any, **options: Any) -> GroupResult:
        return self.apply_async(args, **options)

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(t) for t in self.tasks)}])"


def _fxrange(start: float, stop: float | None, step: float) -> Iterator[float]:
    """kombu's ``fxrange(repeatlast=True)``: ``start`` by ``step`` to ``stop``, then the last."""
    current = start * 1.0
    while True:
        if not stop or current <= stop:
            yield current
            current += step
        else:
            yield current - step


def maybe_unroll_group(value: Any) -> Any:
    """A group of exactly one member is that member; anything else is returned as is.

    Celery's helper (issue #1656): lets code treat ``group(sig)`` like ``sig``.
    """
    tasks = getattr(value, "tasks", None)
    try:
        size = len(tasks)  # type: ignore[arg-type]
    except TypeError:
        return value
    return tasks[0] if size == 1 else value  # type: ignore[index]


def _flatten(tasks: Iterable[Any], app: Celery | None, clone: bool = True) -> list[Signature]:
    """Members in order, nested groups spliced in, empty chains dropped (Celery's unrolling)."""
    from celeriac.canvas.chain import _chain

    out: list[Signature] = []
    for item in tasks:
        sig = maybe_signature(item, app=app)
        if clone:
            sig = sig.clone()
        if isinstance(sig, group):
            out.extend(_flatten(sig.tasks, app, clone))
        elif isinstance(sig, _chain) and not sig.tasks:
            continue
        else:
            out.append(sig)
    return out


def descend(sig: Any) -> int:
    """How many completions ``sig`` contributes to a chord it is a header member of."""
    from celeriac.canvas.chain import _chain
    from celeriac.canvas.chord import chord

    sig = maybe_signature(sig)
    if isinstance(sig, group):
        return sum(descend(task) for task in sig.tasks)
    if isinstance(sig, _chain):
        for step in reversed(sig.tasks):
            size = descend(step)
            if size > 0:
                return size
        return 0
    if isinstance(sig, chord):
        return descend(sig.body)
    return 1


__all__ = ["descend", "group", "maybe_unroll_group"]
