"""``TaskRegistry``: task name to Task instance, with a "did you mean" for unknown names."""

from __future__ import annotations

import difflib
from typing import Any

from celeriac.app.task import Task
from celeriac.exceptions import NotRegistered


class TaskRegistry(dict[str, Task[Any, Any]]):
    """A dict of registered tasks whose misses raise ``NotRegistered`` naming close matches.

    ``NotRegistered`` is also a ``KeyError``, so ``tasks.get(name)`` and ``name in tasks``
    behave as on any dict, as with Celery's registry.
    """

    NotRegistered = NotRegistered

    def __missing__(self, name: str) -> Task[Any, Any]:
        raise NotRegistered(self.describe_unknown(name))

    def register(self, task: Task[Any, Any] | type[Task[Any, Any]]) -> None:
        """Register ``task`` (an instance, or a class, instantiated here) under its name."""
        if getattr(task, "name", None) is None:
            from celeriac.exceptions import InvalidTaskError

            raise InvalidTaskError(
                f"Task class {getattr(task, '__name__', type(task).__name__)!r} must specify "
                ".name attribute")
        instance = task() if isinstance(task, type) else task
        self[instance.name] = instance

    def unregister(self, name: str | Task[Any, Any]) -> None:
        """Remove a task by name (or the task itself); ``NotRegistered`` if it is not here."""
        key = str(getattr(name, "name", name))
        try:
            self.pop(key)
        except KeyError:
            raise NotRegistered(key) from None

    def regular(self) -> dict[str, Task[Any, Any]]:
        return self.filter_types("regular")

    def periodic(self) -> dict[str, Task[Any, Any]]:
        return self.filter_types("periodic")

    def filter_types(self, type: str) -> dict[str, Task[Any, Any]]:
        """The tasks whose ``type`` attribute (default ``'regular'``) is ``type``."""
        return {name: task for name, task in self.items()
                if getattr(task, "type", "regular") == type}

    def user_tasks(self) -> list[str]:
        """Registered names apart from celeriac's own built-ins, sorted for the banner."""
        return sorted(name for name in self if not name.startswith("celery."))

    def describe_unknown(self, name: str) -> str:
        """``NotRegistered`` text: the name, close matches, and the usual cause.

        A method, so the worker's dispatcher (a lower layer) reaches it through
        ``app.tasks`` instead of importing the app package.
        """
        close = difflib.get_close_matches(name, list(self), n=1, cutoff=0.75)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"Received unregistered task of type {name!r}.{hint} The message has been set "
            "aside. Did you remember to import the module containing this task (-A, "
            "include=, imports=)?"
        )
