"""Which of ``Task``'s methods a task class replaces, found without importing ``Task``.

Execution sits below the app layer, so it cannot compare with ``Task.on_failure`` itself.
The base implementation is instead the topmost definition in the class's MRO (``Task`` is
the root that defines every hook and ``__call__``; ``Generic`` and ``object`` define none).
The runner asks once per task class, so a task that overrides nothing pays nothing per call.
"""

from __future__ import annotations

from typing import Any


def overrides(task: Any, name: str) -> bool:
    """Whether ``task``'s class resolves ``name`` to something other than its root definition."""
    cls = type(task)
    for klass in reversed(cls.__mro__):
        root = vars(klass).get(name)
        if root is not None:
            return getattr(cls, name) is not root
    return False


def has_custom_call(task: Any) -> bool:
    """Whether ``task``'s class overrides ``Task.__call__`` (Celery's ``task_has_custom``).

    Celery's tracer calls such a task object (Flask's app context, say); others run ``run``.
    """
    return overrides(task, "__call__")


__all__ = ["has_custom_call", "overrides"]
