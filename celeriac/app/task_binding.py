"""How a ``Task`` class meets its app: ``bind``, ``on_bound``, ``annotate``, ``add_around``.

A mixin of ``Task`` (``app/task.py`` stays the task's options and calls). Celery binds a
task class lazily, on first use of ``task.app``; celeriac binds when the task is created
(``@app.task``) or registered (``app.register_task``), which is when Celery's own decorator
binds it too.

Not supported, deliberately: Celery's ``Task.Strategy`` and ``Task.Request`` class
attributes. They plug classes into Celery's consumer (a strategy receives kombu messages,
Celery's timer and rate-limit buckets; a ``Request`` subclass is Celery's worker-side
request). celeriac's worker has no such seam (its dispatch decides per task once, not
through a per-task strategy object), so a task class that sets either is warned about at
binding rather than silently ignored; so is one setting ``acks_on_timeout=False`` or
``retry_on_worker_lost=True`` (see ``_UNSUPPORTED``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from celeriac.app.base import Celery


#: Task attributes of Celery's that celeriac's worker cannot honour, with the values that
#: change nothing (Celery's defaults). The settings of the same names are marked unsupported
#: in ``celeriac/config/schema/task.py`` for the same reasons.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "Strategy": (None,),
    "Request": (None,),
    # A task killed at its hard time limit is always acknowledged (Celery's default).
    "acks_on_timeout": (None, True),
    # task_reject_on_worker_lost (with acks_late) requeues a task whose process died.
    "retry_on_worker_lost": (None, False),
}


class BindingMixin:
    """``bind``/``on_bound``/``annotate``/``add_around`` of ``Task``."""

    app: ClassVar[Any]
    typing: ClassVar[Any]

    @classmethod
    def bind(cls, app: Celery) -> Celery:
        """Bind this task class to ``app`` (done when the task is created or registered):
        resolves ``typing`` and calls ``on_bound``, as Celery's ``Task.bind``."""
        cls.app = app
        if cls.typing is None:
            cls.typing = bool(getattr(app, "strict_typing", True))
        for attribute, harmless in _UNSUPPORTED.items():
            value = getattr(cls, attribute, None)
            if value not in harmless:
                warnings.warn(f"{cls.__name__}.{attribute} = {value!r} is not supported by "
                              "celeriac's worker and has no effect (see "
                              "celeriac.app.task_binding)", UserWarning, stacklevel=2)
        cls.on_bound(app)
        return app

    @classmethod
    def on_bound(cls, app: Celery) -> None:
        """Called when the task class is bound to an app; override to set it up."""

    @classmethod
    def annotate(cls) -> None:
        """Apply the app's ``task_annotations`` to this class (the app also does it when
        the task is registered and when it is finalized)."""
        from celeriac.app.annotations import annotate, prepare

        annotate(cls, prepare(cls.app.conf.task_annotations))

    @classmethod
    def add_around(cls, attr: str, around: Callable[[Any], Any]) -> None:
        """Replace method ``attr`` by ``around(original)`` (the ``'@attr'`` annotation)."""
        from celeriac.app.annotations import add_around

        add_around(cls, attr, around)


__all__ = ["BindingMixin"]
