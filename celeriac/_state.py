"""The only process-global state celeriac keeps, all of it forced by Celery's API.

* the default app (the first ``Celery()`` made, or a fallback built for ``shared_task``);
* ``current_app`` / ``current_task`` and the running task's request as ``ContextVar``s, so
  threads and asyncio tasks each see their own task (``utils/log.py`` reads the request here,
  without importing the app);
* the ``shared_task`` finalizers that bind a task to every app, present and future;
* whether waiting for a result here would block a worker (``task_join_will_block``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.execution.context import Context

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_default_app: Celery | None = None
_fallback = False
#: Every live app (for ``shared_task`` and the fork hook); weak, as Celery's, so an app
#: nobody references any more is garbage-collected.
_apps: weakref.WeakSet[Celery] = weakref.WeakSet()
#: Builds the default app when none was made (registered by ``app/base.py`` at import, so
#: this module never imports the app).
_app_factory: Callable[[], Celery] | None = None
_shared_finalizers: list[Callable[[Celery], Any]] = []
_current_app: ContextVar[Celery | None] = ContextVar("celeriac_current_app", default=None)
_current_task: ContextVar[Task[Any, Any] | None] = ContextVar("celeriac_current_task", default=None)
#: The request (``Context``) of the task running in this context; None outside a task.
request_var: ContextVar[Context | None] = ContextVar("celeriac_request", default=None)
#: True while a worker executes a task in this context: ``AsyncResult.get()`` would then wait
#: on a pool slot the waiting task itself holds (a solo worker deadlocks), so Celery refuses.
#: A context variable rather than Celery's process-wide flag, so a client thread beside an
#: in-process worker, and eager tasks, may still wait.
_task_join_will_block: ContextVar[bool] = ContextVar("celeriac_join_will_block", default=False)


def register_app(app: Celery) -> None:
    """Remember ``app``; the first one becomes the default; shared tasks bind to it now."""
    global _default_app
    with _lock:
        _apps.add(app)
        if _default_app is None:
            _default_app = app
        finalizers = list(_shared_finalizers)
    for finalize in finalizers:
        finalize(app)


def get_current_app() -> Celery:
    """The app of the running task, else the default app (building a fallback once)."""
    app = _current_app.get()
    if app is not None:
        return app
    if _default_app is None:
        global _fallback
        if _app_factory is None:
            raise RuntimeError("celeriac.app.base was not imported: no app can be built")
        logger.debug("No app created yet: building the default app for shared tasks")
        _app_factory()
        _fallback = True
    assert _default_app is not None
    return _default_app


def set_app_factory(factory: Callable[[], Celery]) -> None:
    """``factory()`` makes (and so registers) the default app when none exists yet."""
    global _app_factory
    _app_factory = factory


def live_apps() -> list[Celery]:
    """The apps still referenced somewhere, as a list.

    Takes no lock: the fork hook calls it in the child, where a lock another parent thread
    held at ``fork`` would never be released. ``WeakSet`` iteration tolerates collection.
    """
    return list(_apps)


def set_default_app(app: Celery) -> None:
    global _default_app, _fallback
    _default_app = app
    _fallback = False


def is_fallback_default() -> bool:
    """True when the default app is the one built for ``shared_task`` before any real app."""
    return _fallback


def connect_shared_task(finalize: Callable[[Celery], Any]) -> None:
    """Run ``finalize`` for every app that exists and every app made later."""
    with _lock:
        _shared_finalizers.append(finalize)
        apps = list(_apps)
    for app in apps:
        finalize(app)


def get_current_task() -> Task[Any, Any] | None:
    return _current_task.get()


def task_join_will_block() -> bool:
    """Whether ``result.get()`` here runs inside a worker's task (Celery's name)."""
    return _task_join_will_block.get()


current_task_var = _current_task
join_will_block_var = _task_join_will_block
current_app_var = _current_app
