"""The Django fix-up: what makes Celery's "First steps with Django" project run unchanged.

Every app applies it when it is made (``celeriac.app.fixups.BUILTIN_FIXUPS`` names it), and
it applies itself only when ``DJANGO_SETTINGS_MODULE`` is set and Django is importable, as
Celery's ``celery.fixups.django``. It then

* makes ``DjangoTask`` (``delay_on_commit``) the app's base task class, unless the user chose
  one (``Celery(task_cls=...)``);
* calls ``django.setup()`` (and Django's system checks) when a process imports the app's task
  modules (``import_modules``: worker, beat), so models and ``autodiscover_tasks`` work;
* lists every installed Django app for ``app.autodiscover_tasks()`` without arguments;
* in a worker of this app (``worker_init``), installs ``DjangoWorkerFixup``: database
  connections handled around tasks and after fork (``celeriac.contrib.django.worker_fixup``).

Django is imported only once the fix-up applies, so a worker without Django pays nothing: no
receiver is connected to any per-task signal.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.contrib.django.worker_fixup import DjangoWorkerFixup
from celeriac.exceptions import FixupWarning, ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

#: The base task class the fix-up gives an app whose user did not choose one.
DJANGO_TASK_CLS = "celeriac.contrib.django.task:DjangoTask"

#: Django releases the fix-up supports (the ``django`` extra requires the same).
MIN_DJANGO = (4, 2)

ERR_NOT_INSTALLED = (
    "Environment variable DJANGO_SETTINGS_MODULE is defined but Django isn't installed: "
    "the Django fix-up is not applied (pip install 'celeriac[django]')."
)


def fixup(app: Celery, env: str = "DJANGO_SETTINGS_MODULE") -> DjangoFixup | None:
    """Install the fix-up on ``app`` when ``env`` names a settings module; else None."""
    if not os.environ.get(env):
        return None
    if importlib.util.find_spec("django") is None:
        warnings.warn(FixupWarning(ERR_NOT_INSTALLED), stacklevel=2)
        return None
    import django

    if django.VERSION[:2] < MIN_DJANGO:
        raise ImproperlyConfigured(
            f"celeriac's Django support needs Django {'.'.join(map(str, MIN_DJANGO))} or "
            f"later; Django {django.get_version()} is installed.")
    return DjangoFixup(app).install()


class DjangoFixup:
    """The app's side of the Django integration (see the module docstring)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._worker_fixup: DjangoWorkerFixup | None = None

    def install(self) -> DjangoFixup:
        # The project folder first, as Celery does: ``celeriac -A proj`` run from the folder
        # holding manage.py must import the project's apps before same-named installed ones.
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        if not self.app._custom_task_cls_used:
            self.app.task_cls = DJANGO_TASK_CLS
        # Several Django-enabled apps may live in one process: each fix-up reacts to its own.
        signals.import_modules.connect(self.on_import_modules, sender=self.app)
        signals.worker_init.connect(self.on_worker_init)
        return self

    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = DjangoWorkerFixup(self.app)
        return self._worker_fixup

    def on_import_modules(self, **kwargs: Any) -> None:
        """``django.setup()`` before the task modules are imported (they import models)."""
        self.worker_fixup.validate_models()

    def on_worker_init(self, sender: Any = None, **kwargs: Any) -> None:
        """Install the worker fix-up in a worker of this app (another app's worker: skip)."""
        worker_app = getattr(sender, "app", None)
        if worker_app is not None and worker_app is not self.app:
            logger.debug("Django fix-up of %r ignores the worker of %r", self.app, worker_app)
            return
        # Celery's test: the pool's module (a prefork child must let go of the worker's
        # sockets; the solo pool sends worker_process_init in the worker itself).
        pool_module = type(getattr(sender, "pool", None)).__module__
        self.worker_fixup.install(prefork="prefork" in pool_module)

    def autodiscover_tasks(self) -> list[str]:
        """Every installed Django app (``app.autodiscover_tasks()`` without arguments).

        Asked when the task modules are imported, after ``django.setup()``: asking earlier
        raises Django's ``AppRegistryNotReady``, as in Celery.
        """
        from django.apps import apps

        return [config.name for config in apps.get_app_configs()]


__all__ = ["DJANGO_TASK_CLS", "DjangoFixup", "fixup"]
