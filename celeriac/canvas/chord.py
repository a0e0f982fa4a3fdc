"""``chord(header, body)``: run the header group, then the body once with all header results.

The client fixes the body's id, writes the chord size to the result store and sends the
header members with the body in ``embed.chord`` (wire-protocol.md §1.7, §4.4). Each worker that
finishes a header task adds its result to the chord's join record in the result store; the
one whose addition completes the count claims the chord atomically and publishes the body
with the results in header order (``backends.chords``). No task polls: no ``chord_unlock``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.canvas.group import _as_task_list, app_of, group
from celeriac.canvas.signature import Signature, maybe_signature, register_type
from celeriac.canvas.stamping import StampingVisitor, stamp_chord

if TYPE_CHECKING:
    from celeriac.app.base import Celery

#: apply options that place the chord *as a whole* inside an outer canvas: they go to the body.
_OUTER = ("chain", "chord", "group_id", "group_index", "link", "link_error")


@register_type("chord")
class chord(Signature):
    """``chord(header, body)`` or ``chord(header)(body)``."""

    def __init__(self, header: Any, body: Any = None, task: str = "celery.chord",
                 args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                 app: Celery | None = None, **options: Any) -> None:
        members = _as_task_list((header,), app)
        body_sig = maybe_signature(body, app=app)
        if app is None:
            app = app_of(members, body_sig)
        super().__init__(task, args, {"kwargs": dict(kwargs or {}), "header": members,
                                      "body": body_sig}, options=options,
                         subtask_type="chord", app=app)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> chord:
        kw = dict(data.get("kwargs") or {})
        made = cls(kw.get("header") or [], kw.get("body"), args=data.get("args"),
                   kwargs=kw.get("kwargs"), app=app, **dict(data.get("options") or {}))
        made["immutable"] = bool(data.get("immutable"))
        return made

    @property
    def tasks(self) -> list[Any]:
        members: list[Any] = self["kwargs"]["header"]
        return members

    @property
    def body(self) -> Any:
        return self["kwargs"].get("body")

    @body.setter
    def body(self, value: Any) -> None:
        self["kwargs"]["body"] = maybe_signature(value, app=self._app)

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = app_of(self.tasks, self.body, read=True)
        return super().app

    def __call__(self, body: Any = None, **options: Any) -> Any:
        return self.apply_async((), {"body": body} if body is not None else None, **options)

    def __or__(self, other: Any) -> Any:
        from celeriac.canvas.compose import or_chord

        return or_chord(self, other)

    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> None:
        """Stamp the header members; the body too when a ``visitor`` is given (Celery)."""
        stamp_chord(self, visitor, append_stamps, **headers)

    def link(self, callback: Mapping[str, Any]) -> Any:
        return self.body.link(callback)

    def link_error(self, errback: Mapping[str, Any]) -> Any:
        """The body gets the errback; so do the header tasks (an immutable copy) when
        ``task_allow_error_cb_on_chord_header`` is on; nested chords decide for themselves."""
        sig = maybe_signature(errback, app=self._app)
        if self.app.conf.task_allow_error_cb_on_chord_header:
            for task in self.tasks:
                task.link_error(sig.clone(immutable=True))
        for task in self.tasks:
            if isinstance(task, chord):  # as Celery: whatever the setting
                task.link_error(sig)
        self.body.link_error(sig)
        return sig

    def set_immutable(self, immutable: bool) -> None:
        """The header tasks only; the body keeps its own (Celery)."""
        for task in self.tasks:
            task.set_immutable(immutable)

    # -- running ------------------------------------------------------------------------
    def _body_for_run(self, body: Any, options: dict[str, Any]) -> Signature:
        """A copy of the body carrying what places the chord in an outer canvas."""
        run_body: Signature = maybe_signature(body, app=self._app).clone()
        for key in _OUTER:
            value = options.pop(key, None)
            if key == "link" and value:
                for callback in value if isinstance(value, list | tuple) else [value]:
                    run_body.link(callback)
            elif key == "link_error" and value:
                for errback in value if isinstance(value, list | tuple) else [value]:
                    run_body.link_error(errback)
            elif value is not None and (key != "chain" or value):
                run_body["options"].setdefault(key, value)
        return run_body

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, task_id: str | None = None,
                    **options: Any) -> Any:
        """Send the header (chord size first); return the body's result (parent: header's)."""
        kw = dict(kwargs or {})
        body = kw.pop("body", None) or self.body
        if body is None:
            raise ValueError("A chord needs a body: chord(header, body) or chord(header)(body)")
        app = self.app
        merged = {**self["options"], **{k: v for k, v in options.items() if v is not None}}
        partial = list(args or ()) + ([] if self.immutable else list(self["args"]))
        if app.conf.task_always_eager:
            return self.apply(partial, kw, body=body)
        gid = str(merged.pop("task_id", None) or uuid.uuid4())
        run_body = self._body_for_run(body, merged)
        root_id = merged.get("root_id")
        body_result = run_body.freeze(task_id, group_id=gid, root_id=root_id)
        header = group(self.tasks, app=app)
        header_kwargs = {**self["kwargs"]["kwargs"], **kw}
        if header.tasks:
            header_result = header.apply_async(partial, header_kwargs or None, task_id=gid,
                                               chord=run_body, **merged)
        else:
            from celeriac.results.group_result import GroupResult

            run_body.apply_async(([],), parent_id=merged.get("parent_id"), root_id=root_id)
            header_result = GroupResult(gid, [], app=app)
        _attach_parent(body_result, header_result)
        return body_result

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              body: Any = None, propagate: bool = True, **options: Any) -> Any:
        """Eager: run the header here, then the body with its results."""
        body_sig = maybe_signature(body or self.body, app=self._app)
        header = group(self.tasks, app=self._app).apply(args, kwargs)
        return body_sig.apply((header.get(propagate=propagate),))

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Any = None, root_id: str | None = None, parent_id: str | None = None,
               group_index: int | None = None) -> Any:
        """Fix the header's group id and members' ids, and the body's id; return the body's
        result (its root ``.parent`` is the header's ``GroupResult``)."""
        opts = self["options"]
        gid = opts.get("task_id") or str(uuid.uuid4())
        opts["task_id"] = gid
        header = group(self.tasks, app=self._app, task_id=gid)
        header_result = header.freeze(gid, root_id=root_id, parent_id=parent_id,
                                      chord=self.body)
        self["kwargs"]["header"] = header.tasks
        body_result = None
        if self.body is not None:
            body = maybe_signature(self.body, app=self._app)
            self["kwargs"]["body"] = body
            body_result = body.freeze(_id, group_id=group_id, chord=chord, root_id=root_id,
                                      group_index=group_index)
            _attach_parent(body_result, header_result)
        return body_result

    def __repr__(self) -> str:
        return f"chord([{', '.join(repr(t) for t in self.tasks)}], {self.body!r})"


_chord = chord


def _attach_parent(result: Any, parent: Any) -> None:
    """Hang ``parent`` above the first result in ``result``'s chain that has none."""
    node, seen = result, set()
    while node is not None:
        if id(node) in seen:
            raise RuntimeError("Recursive result parents")
        seen.add(id(node))
        if getattr(node, "parent", None) is None:
            node.parent = parent
            return
        node = node.parent


__all__ = ["chord"]
