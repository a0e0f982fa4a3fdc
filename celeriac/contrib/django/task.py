"""``DjangoTask``: the base task class of a Django project's app (Celery 5.4's
``celery.contrib.django.task.DjangoTask``), set by the Django fix-up unless the user chose one.

A view that saves a row and sends a task about it must not let a worker look for the row
before the transaction commits: ``delay_on_commit`` sends when Django's transaction commits
(``transaction.on_commit``), and never if it rolls back. Outside a transaction (autocommit)
it sends at once, as ``on_commit`` runs its callback at once there.
"""

from __future__ import annotations

import functools
from typing import Any

from celeriac.app.task import Task


class DjangoTask(Task[Any, Any]):
    """A ``Task`` that can also be sent when the current database transaction commits."""

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """``delay(*args, **kwargs)`` once the transaction commits; returns nothing, since
        no task id exists before then (as in Celery)."""
        from django.db import transaction

        transaction.on_commit(functools.partial(self.delay, *args, **kwargs))

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """``apply_async(*args, **kwargs)`` once the transaction commits (as in Celery)."""
        from django.db import transaction

        transaction.on_commit(functools.partial(self.apply_async, *args, **kwargs))


__all__ = ["DjangoTask"]
