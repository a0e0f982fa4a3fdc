"""``app.loader``: the part of Celery's loader that user code and extensions touch.

celeriac reads configuration itself (``config_from_object``), so the loader only imports
the task modules (``import_default_modules``, what ``celeriac worker`` runs at start) and
offers the hooks a custom loader overrides. With ``Celery(loader=MyLoader)`` the worker
calls ``on_worker_init`` (after importing the task modules) and ``on_worker_shutdown``;
``on_task_init``, ``on_process_cleanup`` and ``on_worker_process_init`` are not called.
"""

from __future__ import annotations

import importlib
import warnings
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.config import Settings


#: Celery's loader hooks the worker does not call; a custom loader that overrides one is told.
NOT_CALLED_HOOKS = ("on_task_init", "on_process_cleanup", "on_worker_process_init")


class Loader:
    """The app's loader (Celery's ``celery.loaders.app.AppLoader``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in NOT_CALLED_HOOKS:
            if getattr(cls, name) is not getattr(Loader, name):
                warnings.warn(
                    f"{cls.__qualname__}.{name} is never called by celeriac's worker; use the "
                    "task_prerun/task_postrun/worker_process_init signals instead",
                    UserWarning, stacklevel=2)

    def __init__(self, app: Celery, **kwargs: Any) -> None:
        self.app = app
        self.task_modules: set[str] = set()
        self.worker_initialized = False

    @property
    def conf(self) -> Settings:
        return self.app.conf

    def now(self, utc: bool = True) -> datetime:
        return datetime.now(UTC) if utc else datetime.now()

    # -- hooks a custom loader overrides ---------------------------------------------------
    def on_task_init(self, task_id: str, task: Any) -> None:
        """Called before a task is executed."""

    def on_process_cleanup(self) -> None:
        """Called after a task is executed."""

    def on_worker_init(self) -> None:
        """Called when the worker starts, after the task modules are imported."""

    def on_worker_shutdown(self) -> None:
        """Called when the worker shuts down."""

    def on_worker_process_init(self) -> None:
        """Called when a pool child process starts."""

    # -- importing ---------------------------------------------------------------------------
    @property
    def default_modules(self) -> tuple[str, ...]:
        conf = self.app.conf
        return tuple(conf.imports or ()) + tuple(conf.include or ())

    def import_module(self, module: str, package: str | None = None) -> ModuleType:
        return importlib.import_module(module, package=package)

    def import_task_module(self, module: str) -> ModuleType:
        self.task_modules.add(module)
        return self.import_module(module)

    def import_default_modules(self) -> list[ModuleType]:
        """Send ``import_modules``, then import ``imports``/``include`` and pending
        autodiscovery (``app.loader_import_modules``)."""
        self.task_modules.update(self.default_modules)
        self.app.loader_import_modules()
        return [importlib.import_module(name) for name in self.default_modules]

    def init_worker(self) -> None:
        if not self.worker_initialized:
            self.worker_initialized = True
            self.import_default_modules()
            self.on_worker_init()

    def shutdown_worker(self) -> None:
        self.on_worker_shutdown()

    def init_worker_process(self) -> None:
        self.on_worker_process_init()

    def config_from_object(self, obj: Any, silent: bool = False) -> bool:
        self.app.config_from_object(obj, silent=silent)
        return True

    def autodiscover_tasks(self, packages: list[str], related_name: str = "tasks") -> None:
        self.app.autodiscover_tasks(packages, related_name, force=True)


__all__ = ["Loader"]
