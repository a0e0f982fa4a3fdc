"""``Signature``: a task call packaged as data, dict-shaped exactly like Celery's.

Its six keys (``task, args, kwargs, options, subtask_type, immutable``) are what travels in
``callbacks``/``errbacks``/``chain``/``chord`` (wire-protocol.md §1.4), so a signature can be
stored (in a beat entry, a database) and sent across, and one built by Celery reads here
unchanged. Canvas types (chain, group, chord, chunks, xmap, xstarmap) are subclasses that keep
their members in ``kwargs``; ``from_dict`` turns a plain dict back into the right subclass by its
``subtask_type``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from celeriac.canvas.signature_extras import SignatureExtras
from celeriac.canvas.stamping import IMMUTABLE_OPTIONS, immutable_options

if TYPE_CHECKING:
    from celeriac.app.base import Celery

#: Canvas types Celery serializes with ``subtask_type: null``, known by their task name.
_BY_TASK_NAME = {"celery.map": "xmap", "celery.starmap": "xstarmap", "celery.chunks": "chunks"}

#: ``subtask_type`` -> class; filled by ``register_type`` in the canvas modules.
SUBTASK_TYPES: dict[str, type[Signature]] = {}


#: A canvas class (spelled out here: inside ``Signature`` the name ``type`` is its property).
_SignatureClass: TypeAlias = "type[Signature]"


def register_type(name: str) -> Callable[[type[Signature]], type[Signature]]:
    """Register a canvas class under its ``subtask_type`` so ``from_dict`` can rebuild it."""

    def register(cls: type[Signature]) -> type[Signature]:
        SUBTASK_TYPES[name] = cls
        return cls

    return register


class Signature(SignatureExtras):
    """A task name with (partial) arguments and options (``SignatureExtras``: stamping and
    Celery's introspection helpers)."""

    _app: Celery | None
    #: ``subtask_type`` -> class, Celery's ``Signature.TYPES`` (the same dict as SUBTASK_TYPES).
    TYPES: ClassVar[dict[str, type[Signature]]] = SUBTASK_TYPES
    _IMMUTABLE_OPTIONS: ClassVar[frozenset[str]] = IMMUTABLE_OPTIONS

    #: options that describe one particular run; ``clone`` keeps them, ``reset`` drops them.
    RUN_OPTIONS: ClassVar[tuple[str, ...]] = ("task_id", "group_id", "group_index", "chord",
                                              "root_id", "parent_id", "chain")

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
            self["args"] = list(self["args"] or ())
            self["kwargs"] = dict(self["kwargs"] or {})
            self["options"] = dict(self["options"] or {})
        else:
            name = getattr(task, "name", task)
            if app is None and hasattr(task, "app") and hasattr(task, "name"):
                app = task.app
            opts = dict(options or {})
            immutable = bool(opts.pop("immutable", immutable))
            opts.update(extra_options)
            super().__init__(task=name, args=list(args or ()), kwargs=dict(kwargs or {}),
                             options=opts, subtask_type=subtask_type, immutable=immutable)
        self._app = app

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> Signature:
        """Rebuild a signature (of the right canvas class) from its dict form."""
        kind = data.get("subtask_type") or _BY_TASK_NAME.get(str(data.get("task")))
        if kind and cls is Signature:
            from celeriac.canvas.from_dict import canvas_class

            target = canvas_class(str(kind))
            if target is not None:
                return target.from_dict(data, app=app)
        return cls(dict(data), app=app)

    # -- attributes ----------------------------------------------------------------------
    @property
    def app(self) -> Celery:
        if self._app is None:
            from celeriac import _state

            self._app = _state.get_current_app()
        return self._app

    @property
    def task(self) -> str:
        return str(self["task"])

    name = task

    @property
    def args(self) -> list[Any]:
        return list(self["args"])

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self["kwargs"])

    @property
    def options(self) -> dict[str, Any]:
        """The live options dict (mutations stick, as in Celery)."""
        opts: dict[str, Any] = self["options"]
        return opts

    @property
    def subtask_type(self) -> str | None:
        value = self.get("subtask_type")
        return None if value is None else str(value)

    @property
    def immutable(self) -> bool:
        return bool(self.get("immutable"))

    @property
    def id(self) -> str | None:
        value = self["options"].get("task_id")
        return None if value is None else str(value)

    @property
    def type(self) -> Any:
        """The registered task object this signature calls."""
        return self.app.tasks[self.task]

    # -- copying and options --------------------------------------------------------------
    @classmethod
    def register_type(cls, name: str | None = None) -> Callable[[_SignatureClass],
                                                                 _SignatureClass]:
        """Class decorator: ``from_dict`` rebuilds dicts whose ``subtask_type`` is ``name``
        (default: the class name) as this class (Celery's ``Signature.register_type``)."""

        def register(subclass: _SignatureClass) -> _SignatureClass:
            SUBTASK_TYPES[name or subclass.__name__] = subclass
            return subclass

        return register

    def merged_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` over this signature's, except a group id or stamp already set here."""
        own = self["options"]
        fixed = immutable_options(own)
        return {**own, **{k: v for k, v in options.items() if k not in fixed or k not in own}}

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Signature:
        """A deep copy with partial ``args`` prepended and ``kwargs``/``options`` merged."""
        data = copy.deepcopy(dict(self))
        if args and not self.immutable:
            data["args"] = list(args) + list(data["args"])
        if kwargs and not self.immutable:
            data["kwargs"] = {**data["kwargs"], **kwargs}
        if options:
            data["options"] = {**data["options"], **{
                k: v for k, v in options.items()
                if k not in immutable_options(data["options"]) or k not in data["options"]}}
        made = type(self).from_dict(data, app=self._app)
        return made

    copy = clone
    partial = clone

    def replace(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                options: Mapping[str, Any] | None = None) -> Signature:
        """A clone with ``args``/``kwargs``/``options`` replaced where not ``None`` (Celery)."""
        made = self.clone()
        for key, value in (("args", args), ("kwargs", kwargs), ("options", options)):
            if value is not None:
                made[key] = list(value) if key == "args" else dict(value)
        return made

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        if immutable is not None:
            self["immutable"] = immutable
        self["options"].update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self["immutable"] = immutable

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Any = None, root_id: str | None = None, parent_id: str | None = None,
               group_index: int | None = None) -> Any:
        """Fix this call's id (and group/chord membership) now; return its future result.

        Mirrors Celery: an id already set wins, and so does a ``group_id`` already set.
        """
        opts = self["options"]
        tid = opts.get("task_id")
        if not tid:
            tid = opts["task_id"] = _id or str(uuid.uuid4())
        if root_id:
            opts["root_id"] = root_id
        if parent_id:
            opts["parent_id"] = parent_id
        if "reply_to" not in opts and self._app is not None:
            opts["reply_to"] = self._app.oid
        if group_id and "group_id" not in opts:
            opts["group_id"] = group_id
        if chord:
            opts["chord"] = chord
        if group_index is not None:
            opts["group_index"] = group_index
        return self.app.AsyncResult(str(tid), task_name=self.task)

    def _list_option(self, key: str) -> list[Any]:
        current = self["options"].get(key)
        if current is None:
            return []
        return list(current) if isinstance(current, list | tuple) else [current]

    def append_to_list_option(self, key: str, value: Any) -> Any:
        """Add ``value`` to the list option ``key`` unless an equal one is there (Celery)."""
        items = self._list_option(key)
        if value not in items:
            items.append(value)
        self["options"][key] = items  # a new list: copies made by ``from_dict`` share the old
        return value

    def extend_list_option(self, key: str, value: Any) -> None:
        """Add ``value`` (or each item of a list) to the list option ``key``."""
        more = list(value) if isinstance(value, list | tuple) else [value]
        self["options"][key] = [*self._list_option(key), *more]

    def link(self, callback: Mapping[str, Any]) -> Any:
        """Run ``callback`` with this task's result when it succeeds."""
        return self.append_to_list_option("link", callback)

    def link_error(self, errback: Mapping[str, Any]) -> Any:
        """Run ``errback`` when this task fails (see ``execution.callbacks`` for how)."""
        return self.append_to_list_option("link_error", errback)

    def on_error(self, errback: Mapping[str, Any]) -> Signature:
        """``link_error`` that returns this signature, for ``sig.on_error(eb).delay()``."""
        self.link_error(errback)
        return self

    # -- running ------------------------------------------------------------------------
    def _merge(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
               options: Mapping[str, Any] | None = None, force: bool = False,
               ) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        """Partial ``args`` first, ``kwargs`` and ``options`` over the stored ones, unless this
        signature is immutable (and not ``force``); a group id or stamp set here stays."""
        if self.immutable and not force:
            call_args, call_kwargs = list(self["args"]), dict(self["kwargs"])
        else:
            call_args = [*(args or ()), *self["args"]]
            call_kwargs = {**self["kwargs"], **(kwargs or {})}
        merged = self.merged_options(
            {k: v for k, v in (options or {}).items() if v is not None})
        return call_args, call_kwargs, merged

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Send with ``args`` prepended (unless immutable) and ``options`` over the stored ones."""
        call_args, call_kwargs, merged = self._merge(args, kwargs, options)
        merged.pop("subtask_type", None)
        task = self.app.tasks.get(self.task)
        if task is not None:
            return task.apply_async(call_args, call_kwargs, **merged)
        return self.app.send_task(self.task, call_args, call_kwargs, **merged)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Any:
        """Run here and now (``Task.apply``) with the merged arguments."""
        call_args, call_kwargs, merged = self._merge(args, kwargs, options)
        return self.type.apply(call_args, call_kwargs, **merged)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task function in this process; partial args go first, as in Celery."""
        call_args, call_kwargs, _ = self._merge(args, kwargs, {})
        return self.type(*call_args, **call_kwargs)

    def __or__(self, other: Any) -> Any:
        """``self | other``: Celery's composition rules (``canvas.compose``)."""
        from celeriac.canvas.compose import or_signature

        return or_signature(self, other)

    def __ior__(self, other: Any) -> Any:
        """``sig |= other`` composes too (a dict would merge keys instead), as in Celery."""
        return self.__or__(other)

    def __deepcopy__(self, memo: dict[int, Any]) -> Signature:
        made = type(self).from_dict(copy.deepcopy(dict(self), memo), app=self._app)
        return made

    def __repr__(self) -> str:
        args = ", ".join([*(repr(a) for a in self["args"]),
                          *(f"{k}={v!r}" for k, v in self["kwargs"].items())])
        return f"{self.task}({args}){'!' if self.immutable else ''}"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (dict(self),)


def _rebuild(data: dict[str, Any]) -> Signature:
    return Signature.from_dict(data)


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """Build a ``Signature`` from a name, a task, or a signature dict (Celery's helper)."""
    if isinstance(varies, Signature):
        app = kwargs.get("app")
        return varies.clone() if app is None else type(varies).from_dict(dict(varies), app)
    if isinstance(varies, Mapping):
        return Signature.from_dict(varies, app=kwargs.get("app"))
    return Signature(varies, *args, **kwargs)


subtask = signature


def maybe_signature(value: Any, app: Celery | None = None, clone: bool = False) -> Any:
    """A ``Signature`` (of the right class) for a dict, the same object for a signature (a
    clone with ``clone``), and ``None``/lists passed through, as Celery's helper."""
    if value is None:
        return None
    if isinstance(value, Signature):
        if clone:
            value = value.clone()
        if app is not None and value._app is None:
            value._app = app
        return value
    if isinstance(value, Mapping):
        return Signature.from_dict(value, app=app)
    if isinstance(value, list | tuple):
        return [maybe_signature(item, app) for item in value]
    return value


maybe_subtask = maybe_signature
