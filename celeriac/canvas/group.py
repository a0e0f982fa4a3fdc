"""``group``: tasks run in parallel, with one ``GroupResult`` for all of them.

On the wire a group is nothing but its members' messages, each with the shared ``group``
header and its ``group_index`` (wire-protocol.md §1.7). When the group is a chord header, the
chord size is written to the result store before any member message leaves (§4.4, pitfall
§7.13; for a generator, before its last batch), and members carry the body in
``embed.chord``. All member messages are published in one batch, so a 10,000-task group
costs one broker round trip, not 10,000; a group read from a generator is published as it is
read, ``STREAM_BATCH`` members a round trip (``canvas.lazy``).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from celeriac.canvas.lazy import LazyTasks
from celeriac.canvas.signature import Signature, maybe_signature, register_type
from celeriac.canvas.stamping import StampingVisitor, stamp_members

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.results.group_result import GroupResult

#: Members of a generator-fed group sent per broker round trip (see ``canvas.lazy``).
STREAM_BATCH: Final = 1000


def _as_task_list(tasks: tuple[Any, ...], app: Celery | None) -> Any:
    """``group(a, b)``, ``group([a, b])``, ``group(gen)`` and ``group(other_group)`` alike;
    a generator (any iterator) stays unread, as Celery's ``regen`` (``canvas.lazy``)."""
    items: Any = tasks
    if len(tasks) == 1:
        only = tasks[0]
        if isinstance(only, group):
            items = only.tasks
        elif isinstance(only, Mapping):
            items = [only]
        else:
            items = only
    if isinstance(items, LazyTasks):
        return items
    if isinstance(items, Iterator):
        return LazyTasks(items, lambda item: maybe_signature(item, app=app))
    return [maybe_signature(item, app=app) for item in items]


def app_of(members: Any, *others: Any, read: bool = False) -> Celery | None:
    """The app of the first of ``members`` and ``others`` that has one. A generator-fed
    header is not read unless ``read`` (then only its first member), as Celery's group
    finds its app only when asked."""
    head: Any = members
    if isinstance(members, LazyTasks):
        head = ([members[0]] if members else []) if read else []
    return next((m._app for m in [*head, *others] if isinstance(m, Signature) and m._app),
                None)


@register_type("group")
class group(Signature):
    """``group(sig, sig, ...)`` or ``group(iterable)``; ``apply_async`` gives a ``GroupResult``."""

    def __init__(self, *tasks: Any, **options: Any) -> None:
        app = options.pop("app", None)
        members = _as_task_list(tasks, app)
        if app is None:
            app = app_of(members)
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

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = app_of(self.tasks, read=True)
        return super().app

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
        root_id, parent_id = merged.pop("root_id", None), merged.pop("parent_id", None)
        join = app.backend.chord_join() if chord_body is not None else None
        members = _iter_flat(self.tasks, self._app)
        # Only a generator is streamed (a list goes in one round trip), and not to a store
        # that must know the chord's size before any part arrives.
        stream = (isinstance(self.tasks, LazyTasks) and not self.tasks.consumed
                  and (join is None or join.counts_unsized_parts))
        per_batch = STREAM_BATCH if stream else None
        results: list[Any] = []
        size = 0
        batch = list(itertools.islice(members, per_batch))
        following = list(itertools.islice(members, per_batch))
        while batch:
            # A generator is read one batch ahead: the chord is sized before its last batch.
            frozen = [(sig, sig.freeze(group_id=gid, root_id=root_id, chord=chord_body,
                                       group_index=len(results) + index, parent_id=parent_id))
                      for index, sig in enumerate(batch)]
            size += sum(descend(sig) for sig in batch)
            if join is not None and not following:
                join.set_size(gid, size)
            with app.publish_batch():
                for sig, _ in frozen:
                    sig.apply_async(args, kwargs, **merged)
            results.extend(res for _, res in frozen)
            batch, following = following, list(itertools.islice(members, per_batch))
        return GroupResult(gid, results, app=app)

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
    return list(_iter_flat(tasks, app, clone))


def _iter_flat(tasks: Iterable[Any], app: Celery | None,
               clone: bool = True) -> Iterator[Signature]:
    """``_flatten`` as it reads ``tasks`` (a generator-fed group is read as it is sent)."""
    from celeriac.canvas.chain import _chain

    for item in tasks:
        sig = maybe_signature(item, app=app)
        if clone:
            sig = sig.clone()
        if isinstance(sig, group):
            yield from _iter_flat(sig.tasks, app, clone)
        elif isinstance(sig, _chain) and not sig.tasks:
            continue
        else:
            yield sig


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
