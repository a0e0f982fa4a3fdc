"""``Signature``: a task call packaged as data, dict-shaped exactly like Celery's.

Its six keys (``task, args, kwargs, options, subtask_type, immutable``) are what travels in
``callbacks``/``errbacks``/``chain`` (wire-protocol.md §1.4), so a signature can be stored
(in a beat entry, a database) and sent across, and one built by Celery reads here unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.results.async_result import AsyncResult


class Signature(dict[str, Any]):
    """A task name with (partial) arguments and options."""

    def __init__(
        self,
        task: Any = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        subtask_type: str | None = None,
        immutable: bool = False,
        app: Celery | None = None,
        **extra_options: Any,
    ) -> None:
        if isinstance(task, Mapping):
            super().__init__(task)
            self.setdefault("args", [])
            self.setdefault("kwargs", {})
            self.setdefault("options", {})
            self.setdefault("subtask_type", None)
            self.setdefault("immutable", False)
        else:
            name = getattr(task, "name", task)
            opts = dict(options or {})
            immutable = bool(opts.pop("immutable", immutable))
            opts.update(extra_options)
            super().__init__(task=name, args=list(args or ()), kwargs=dict(kwargs or {}),
                             options=opts, subtask_type=subtask_type, immutable=immutable)
        self._app = app

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> Signature:
        return cls(dict(data), app=app)

    @property
    def app(self) -> Celery:
        if self._app is None:
            from celeriac import _state

            self._app = _state.get_current_app()
        return self._app

    @property
    def task(self) -> str:
        return str(self["task"])

    @property
    def args(self) -> list[Any]:
        return list(self["args"])

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self["kwargs"])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self["options"])

    @property
    def immutable(self) -> bool:
        return bool(self.get("immutable"))

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Signature:
        data = copy.deepcopy(dict(self))
        if args:
            data["args"] = list(args) + data["args"] if not self.immutable else data["args"]
        if kwargs:
            data["kwargs"] = {**data["kwargs"], **kwargs}
        data["options"] = {**data["options"], **options}
        return Signature(data, app=self._app)

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        if immutable is not None:
            self["immutable"] = immutable
        self["options"].update(options)
        return self

    def link(self, callback: Signature) -> Signature:
        self["options"].setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        self["options"].setdefault("link_error", []).append(errback)
        return errback

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, **options: Any) -> AsyncResult:
        """Send with ``args`` prepended (unless immutable) and ``options`` over the stored ones."""
        call_args = list(self["args"]) if self.immutable else [*(args or ()), *self["args"]]
        call_kwargs = dict(self["kwargs"]) if self.immutable else {**self["kwargs"],
                                                                    **(kwargs or {})}
        merged = {**self["options"], **options}
        task = self.app.tasks.get(self.task)
        if task is not None:
            return task.apply_async(call_args, call_kwargs, **merged)
        return self.app.send_task(self.task, call_args, call_kwargs, **merged)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.app.tasks[self.task]
        return task(*self["args"], *args, **{**self["kwargs"], **kwargs})

    def __repr__(self) -> str:
        args = ", ".join([*(repr(a) for a in self["args"]),
                          *(f"{k}={v!r}" for k, v in self["kwargs"].items())])
        return f"{self.task}({args}){'!' if self.immutable else ''}"

    def __reduce__(self) -> tuple[Any, ...]:
        return Signature, (dict(self),)


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """Build a ``Signature`` from a name, a task, or a signature dict (Celery's helper)."""
    if isinstance(varies, Mapping):
        return Signature.from_dict(varies, app=kwargs.get("app"))
    return Signature(varies, *args, **kwargs)
