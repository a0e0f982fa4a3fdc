"""``task_annotations``: task attributes overridden from configuration, as Celery does it.

The setting is a dict ``{task name or '*': {attribute: value}}``, an object with
``annotate(task)`` (and optionally ``annotate_any()``) returning such an attribute dict or
``None``, an import path of such a class or object, or a list/tuple of any of those. For each
task the first annotation that names it applies, then the first ``'*'`` one (so ``'*'`` wins
where both set an attribute: Celery's order). A key ``'@method'`` wraps the method instead:
``{'@on_failure': around}`` sets ``on_failure = around(original)``.

Attributes are set on the task's class, like Celery's ``Task.annotate``, when the task is
registered and again when the app is finalized (worker start), so annotations configured
after the ``@app.task`` decorator ran still apply before any task executes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from celeriac.utils.imports import import_symbol


class MapAnnotation(dict[str, Any]):
    """The dict form: task name (or ``'*'``) -> attribute dict."""

    def annotate(self, task: Any) -> dict[str, Any] | None:
        found = self.get(task.name)
        return None if found is None else dict(found)

    def annotate_any(self) -> dict[str, Any] | None:
        found = self.get("*")
        return None if found is None else dict(found)


def prepare(setting: Any) -> list[Any]:
    """The ``task_annotations`` value as a list of objects with ``annotate``."""
    if setting is None:
        return []
    items = setting if isinstance(setting, list | tuple) else (setting,)
    return [_expand(item) for item in items]


def _expand(item: Any) -> Any:
    if isinstance(item, Mapping):
        return MapAnnotation(item)
    if isinstance(item, str):
        item = import_symbol(item)
        return item() if isinstance(item, type) else item
    return item


def _first(annotations: list[Any], method: str, *args: Any) -> dict[str, Any] | None:
    for annotation in annotations:
        fn = getattr(annotation, method, None)
        if fn is not None:
            found = fn(*args)
            if found:
                return dict(found)
    return None


def resolve(annotations: list[Any], task: Any) -> Iterator[dict[str, Any]]:
    """The attribute dicts that apply to ``task``: its own first, then the ``'*'`` one."""
    for found in (_first(annotations, "annotate", task), _first(annotations, "annotate_any")):
        if found:
            yield found


def annotate(task: Any, annotations: list[Any]) -> None:
    """Apply ``annotations`` to ``task``'s class (``task`` may be the class itself, which is
    what ``annotate(task)`` methods receive, as in Celery). Idempotent: '@' wrappers wrap
    the original."""
    cls = task if isinstance(task, type) else type(task)
    for attributes in resolve(annotations, cls):
        for key, value in attributes.items():
            if key.startswith("@"):
                add_around(cls, key[1:], value)
            else:
                setattr(cls, key, value)


def add_around(cls: type, attr: str, around: Any) -> None:
    original = getattr(cls, attr)
    original = getattr(original, "__wrapped__", None) or original
    wrapped = around(original)
    wrapped.__wrapped__ = original
    setattr(cls, attr, wrapped)


__all__ = ["MapAnnotation", "add_around", "annotate", "prepare", "resolve"]
