"""``xmap``, ``xstarmap`` and ``chunks``: one message that runs a task over many items.

``task.map(it)`` sends one ``celery.map`` message whose worker calls the task for each item in
turn, in process (not in parallel); ``starmap`` unpacks each item as arguments; ``chunks(it, n)``
splits the items into a group of ``n``-sized ``celery.starmap`` messages. The message shapes
(``kwargs = {"task": sig, "it": [...]}``, ``subtask_type`` null as Celery writes it; the
task name identifies them) are Celery's, so either side may run them; the
built-in tasks that do the work are registered by ``register_builtins``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from celeriac.canvas.group import group
from celeriac.canvas.signature import Signature, maybe_signature, register_type, signature

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.results.group_result import GroupResult


def _task_name(task: Any) -> str | None:
    name = task.get("task") if isinstance(task, Mapping) else getattr(task, "name", None)
    return None if name is None else str(name)


class _basemap(Signature):
    _task_name = ""
    _kind = ""

    def __init__(self, task: Any, it: Iterable[Any], **options: Any) -> None:
        app = options.pop("app", None)
        sig = maybe_signature(task, app=app) if isinstance(task, Mapping) else signature(task)
        super().__init__(self._task_name, (), {"task": sig, "it": list(it)}, options=options,
                         immutable=True, app=app or sig._app)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> Signature:
        kw = data.get("kwargs") or {}
        return cls(kw["task"], kw.get("it") or [], app=app, **dict(data.get("options") or {}))

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        merged = {**self["options"], **{k: v for k, v in options.items() if v is not None}}
        kw = self["kwargs"]
        task = kw["task"]
        route = {} if "queue" in merged else self._route(task)
        return self.app.send_task(self._task_name, (), {"task": dict(task), "it": list(kw["it"])},
                                  **route, **merged)

    def _route(self, task: Any) -> dict[str, Any]:
        """Route like the mapped task would be (Celery's ``route_name``)."""
        name = _task_name(task)
        if not name:
            return {}
        queue = self.app.router.route(name, {}, (), {}, task_queue=getattr(
            self.app.tasks.get(name), "queue", None)).queue
        return {"queue": queue} if queue else {}

    def __repr__(self) -> str:
        return f"[{_task_name(self['kwargs']['task'])}(x) for x in {self['kwargs']['it']!r:.100}]"


@register_type("xmap")
class xmap(_basemap):
    """``[task(x) for x in it]`` in one message."""

    _task_name = "celery.map"
    _kind = "xmap"


@register_type("xstarmap")
class xstarmap(_basemap):
    """``[task(*x) for x in it]`` in one message."""

    _task_name = "celery.starmap"
    _kind = "xstarmap"


@register_type("chunks")
class chunks(Signature):
    """``chunks(task, it, n)``: a group of ``xstarmap`` messages of ``n`` items each."""

    def __init__(self, task: Any, it: Iterable[Any], n: int, **options: Any) -> None:
        app = options.pop("app", None)
        sig = maybe_signature(task, app=app) if isinstance(task, Mapping) else signature(task)
        super().__init__("celery.chunks", (), {"task": sig, "it": list(it), "n": int(n)},
                         options=options, immutable=True,
                         app=app or sig._app)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celery | None = None) -> Signature:
        kw = data.get("kwargs") or {}
        return cls(kw["task"], kw.get("it") or [], kw["n"], app=app,
                   **dict(data.get("options") or {}))

    @classmethod
    def apply_chunks(cls, task: Any, it: Iterable[Any], n: int,
                     app: Celery | None = None) -> GroupResult:
        """Send ``chunks(task, it, n)`` now (Celery's helper)."""
        return cls(task, it, n, app=app)()

    def group(self) -> group:
        kw = self["kwargs"]
        parts = [xstarmap(kw["task"], part, app=self._app) for part in _split(kw["it"], kw["n"])]
        return group(parts, app=self._app)

    def apply_async(self, args: Sequence[Any] | None = None,
                    kwargs: Mapping[str, Any] | None = None, **options: Any) -> GroupResult:
        merged = {**self["options"], **{k: v for k, v in options.items() if v is not None}}
        return self.group().apply_async(args, kwargs, **merged)

    def __call__(self, **options: Any) -> GroupResult:
        return self.apply_async(**options)


def _split(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while True:
        part = list(islice(iterator, n))
        if not part:
            return
        yield part


def register_builtins(app: Celery) -> None:
    """Register ``celery.map``, ``celery.starmap``, ``celery.chunks`` and ``celery.accumulate``
    on ``app`` (idempotent).

    They run the mapped task's function in this process, as Celery's built-ins do.
    """

    def _map(task: Any, it: Iterable[Any]) -> list[Any]:
        sig = signature(task, app=app)
        return [sig.type(item) for item in it]

    def _starmap(task: Any, it: Iterable[Any]) -> list[Any]:
        sig = signature(task, app=app)
        return [sig.type(*item) for item in it]

    def _chunks(task: Any, it: Iterable[Any], n: int) -> Any:
        return chunks(task, it, n, app=app).apply_async()

    def _accumulate(*args: Any, **kwargs: Any) -> Any:
        """``Task.replace`` chords a group into this: its ``index``-th argument, or all."""
        index = kwargs.get("index")
        return args[index] if index is not None else args

    for name, fun in (("celery.map", _map), ("celery.starmap", _starmap),
                      ("celery.chunks", _chunks), ("celery.accumulate", _accumulate)):
        if name not in app.tasks:
            app.task(name=name, shared=False)(fun)


__all__ = ["chunks", "register_builtins", "xmap", "xstarmap"]
