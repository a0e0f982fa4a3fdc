"""The tasks every app has, under Celery's names (Celery's ``celery/app/builtins.py``).

``celery.map``, ``celery.starmap`` and ``celery.chunks`` come from the canvas; this module adds
``celery.backend_cleanup`` and registers them all when an app is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.canvas import register_builtins as register_canvas_builtins

if TYPE_CHECKING:
    from celeriac.app.base import Celery


def register_builtins(app: Celery) -> None:
    """Register the built-in tasks on ``app`` (idempotent)."""
    register_canvas_builtins(app)
    _register_backend_cleanup(app)


def _register_backend_cleanup(app: Celery) -> None:
    """Celery's ``celery.backend_cleanup`` (Celery's beat sends it daily when results expire):
    delete the expired records of a store that keeps files past their lifetime (``file://``);
    other stores expire records themselves, and the task does nothing on them."""

    def backend_cleanup() -> None:
        cleanup = getattr(app.backend, "cleanup", None)
        if callable(cleanup):
            cleanup()

    if "celery.backend_cleanup" not in app.tasks:
        app.task(name="celery.backend_cleanup", shared=False)(backend_cleanup)


__all__ = ["register_builtins"]
