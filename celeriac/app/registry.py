"""``TaskRegistry``: task name to Task instance, with a "did you mean" for unknown names."""

from __future__ import annotations

import difflib
from typing import Any

from celeriac.app.task import Task
from celeriac.exceptions import NotRegistered


class TaskRegistry(dict[str, Task[Any, Any]]):
    """A dict of registered tasks whose misses raise ``NotRegistered`` naming close matches."""

    def __missing__(self, name: str) -> Task[Any, Any]:
        raise NotRegistered(self.describe_unknown(name))

    def register(self, task: Task[Any, Any]) -> None:
        self[task.name] = task

    def unregister(self, name: str) -> None:
        self.pop(name, None)

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
