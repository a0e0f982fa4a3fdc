"""The worker's side of the Django fix-up: Django's set-up and its database connections.

A web request closes stale connections before and after it runs (Django's
``close_old_connections`` on ``request_started``/``request_finished``); a task does the same
here, on ``task_prerun``/``task_postrun``, as Celery's fix-up does. So a connection the server
dropped (a restart, ``pg_terminate_backend``, an idle timeout) costs no task a failure: the
next task opens a new one. ``CONN_MAX_AGE`` and ``CONN_HEALTH_CHECKS`` keep their meaning; with
persistent connections, enable the health checks, as for Django's own requests.

A prefork child starts as a copy of the worker, with the parent's sockets: it lets go of
every inherited connection without a word to the server (closing the descriptor only), since
a proper close would end the session the parent still holds.

Only the worker connects these receivers, so a worker without Django pays nothing per task.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.exceptions import CeleriacWarning

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

DEBUG_WARNING = (
    "Using settings.DEBUG leads to a memory leak (Django records every query); never use "
    "this setting in production environments!"
)


class DjangoWorkerFixup:
    """Django's set-up and connection hygiene in a worker (``DjangoFixup.worker_fixup``)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.prefork = False
        self._installed = False
        #: Celery's ``CELERY_DB_REUSE_MAX``: keep connections for this many tasks, then close
        #: them all (0: Django's ``close_old_connections`` around every task).
        conf = app.conf
        self.db_reuse_max = int(conf.get("db_reuse_max") or conf.get("CELERY_DB_REUSE_MAX") or 0)
        self._db_recycles = 0

    @staticmethod
    def django_setup() -> None:
        import django

        django.setup()

    def validate_models(self) -> None:
        """``django.setup()``, then Django's system checks (``CELERY_SKIP_CHECKS`` skips
        them, the variable Celery reads). What they find is logged; as in Celery, it does
        not stop the worker (Django's ``manage.py check`` is the place to enforce it)."""
        self.django_setup()
        if not os.environ.get("CELERY_SKIP_CHECKS"):
            from django.core.checks import run_checks

            for message in run_checks():
                if message.is_silenced():  # SILENCED_SYSTEM_CHECKS
                    continue
                level = logging.ERROR if message.is_serious() else logging.WARNING
                logger.log(level, "Django system check: %s", message)

    def install(self, prefork: bool = False) -> DjangoWorkerFixup:
        """Connect the per-task and per-process receivers (once) and drop what the start-up
        opened. ``prefork``: tasks run in forked children of the worker."""
        self.prefork = prefork
        if not self._installed:
            self._installed = True
            signals.beat_embedded_init.connect(self.close_database)
            signals.worker_ready.connect(self.on_worker_ready)
            signals.task_prerun.connect(self.on_task_prerun)
            signals.task_postrun.connect(self.on_task_postrun)
            signals.worker_process_init.connect(self.on_worker_process_init)
        self.close_database()
        self.close_cache()
        return self

    # -- signal receivers ------------------------------------------------------------------
    def on_task_prerun(self, sender: Any = None, **kwargs: Any) -> None:
        if not _is_eager(sender):
            self.close_database()

    def on_task_postrun(self, sender: Any = None, **kwargs: Any) -> None:
        if not _is_eager(sender):
            self.close_database()
            self.close_cache()

    def on_worker_process_init(self, **kwargs: Any) -> None:
        """A new pool process: drop every connection inherited from the worker (the solo
        pool sends this signal too, in the worker itself: there a plain close is right)."""
        if self.prefork:
            from django.db import connections

            for connection in connections.all(initialized_only=True):
                if connection.connection is not None:
                    _close_descriptor(connection.connection)
        self.close_all_connections()
        self.close_cache()

    def on_worker_ready(self, sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "app", self.app) is not self.app:
            return
        from django.conf import settings

        if settings.DEBUG:
            warnings.warn(CeleriacWarning(DEBUG_WARNING), stacklevel=2)

    # -- the work ----------------------------------------------------------------------------
    def close_database(self, **kwargs: Any) -> None:
        """Close the connections that are broken or past ``CONN_MAX_AGE``, as Django does
        around a request (``close_old_connections``); with ``db_reuse_max``, close them all
        every that many tasks instead (each task calls this twice), as Celery does."""
        if self.db_reuse_max:
            if self._db_recycles >= self.db_reuse_max * 2:
                self._db_recycles = 0
                self.close_all_connections()
            self._db_recycles += 1
            return
        from django.db import close_old_connections

        close_old_connections()

    def close_all_connections(self) -> None:
        """Close every open connection (and, in a prefork child, its pool), whatever the age."""
        from django.db import DatabaseError, InterfaceError, connections

        for connection in connections.all(initialized_only=True):
            try:
                connection.close()
                if self.prefork and _pool_enabled(connection):
                    connection.close_pool()
            except InterfaceError:
                pass
            except DatabaseError as exc:  # already closed by the server: nothing to do
                if "closed" not in str(exc) and "not connected" not in str(exc):
                    raise

    @staticmethod
    def close_cache() -> None:
        from django.core.cache import close_caches

        close_caches()


def _is_eager(task: Any) -> bool:
    """Whether ``task`` runs under ``apply()``: its caller's connections are not ours."""
    request = getattr(task, "request", None)
    return bool(getattr(request, "is_eager", False))


def _pool_enabled(connection: Any) -> bool:
    """Django 5.1's connection pool (``OPTIONS["pool"]``), which a prefork child must not
    share with its parent."""
    options = connection.settings_dict.get("OPTIONS") or {}
    return bool(options.get("pool")) and hasattr(connection, "close_pool")


def _close_descriptor(driver_connection: Any) -> None:
    """Close a driver connection's socket without telling the server (see module doc)."""
    try:
        os.close(driver_connection.fileno())
    except (AttributeError, OSError, TypeError, ValueError):
        pass  # no descriptor (sqlite), or already closed
    except Exception as exc:  # a driver error: the connection is unusable anyway
        logger.debug("Could not close the inherited descriptor of %r: %r",
                     driver_connection, exc)


__all__ = ["DEBUG_WARNING", "DjangoWorkerFixup"]
