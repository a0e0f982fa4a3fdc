"""Cooperative task abortion, as Celery's ``celery.contrib.abortable``.

The client marks a task ``ABORTED`` in the result store; the task polls ``is_aborted()`` and
stops itself. Nothing interrupts the task: a task that never polls runs to the end (and its
final state then replaces ``ABORTED``, as in Celery). The state is the plain string
``"ABORTED"`` stored like any custom state, so a Celery client and a celeriac worker (or the
reverse) sharing one result store see each other's aborts.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from celeriac.app.task import Task
from celeriac.protocol.result_meta import ResultMeta
from celeriac.results.async_result import AsyncResult

ABORTED: Final = "ABORTED"


class AbortableAsyncResult(AsyncResult):
    """An ``AsyncResult`` with ``abort()``: sets the task's stored state to ``ABORTED``."""

    def is_aborted(self) -> bool:
        """Return True if the task is (being) aborted."""
        return self.state == ABORTED

    def abort(self) -> None:
        """Store ``ABORTED`` for the task; it stops when it next checks ``is_aborted()``.

        There is no guarantee when (or whether) the task stops: that is up to the task.
        """
        self.backend.store([ResultMeta(self.id, ABORTED, None)])


class AbortableTask(Task[Any, Any]):
    """Base class (``@app.task(base=AbortableTask, bind=True)``) for tasks that can be aborted.

    The task body calls ``self.is_aborted()`` now and then and returns when it is true. Each
    call reads the result store once, so poll at a pace the store can bear.
    """

    abstract: ClassVar[bool] = True

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AbortableAsyncResult:
        """The accompanying ``AbortableAsyncResult``."""
        return AbortableAsyncResult(task_id, app=self.app, task_name=self.name, **kwargs)

    def is_aborted(self, **kwargs: Any) -> bool:
        """Return True if the task (``task_id=``, default the running one) was aborted."""
        task_id = kwargs.get("task_id", self.request.id)
        if task_id is None:
            return False
        result: AsyncResult = self.AsyncResult(task_id)  # a subclass may return another kind
        if not isinstance(result, AbortableAsyncResult):
            return False
        return result.is_aborted()


__all__ = ["ABORTED", "AbortableAsyncResult", "AbortableTask"]
