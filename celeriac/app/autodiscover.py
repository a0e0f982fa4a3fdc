"""Loading task modules: ``include=``/``imports`` and ``autodiscover_tasks``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


def import_modules(names: Iterable[str]) -> None:
    """Import each module in ``names`` (the ``include``/``imports`` settings)."""
    for name in names:
        importlib.import_module(name)


def autodiscover(packages: Iterable[str], related_name: str | None = "tasks") -> list[str]:
    """Import ``<package>.<related_name>`` for each package that has one; return what loaded.

    A package without that module is skipped quietly, as in Celery; an import error *inside*
    an existing module propagates, so broken task modules are never silently ignored.
    """
    loaded: list[str] = []
    for package in packages:
        target = f"{package}.{related_name}" if related_name else package
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name not in {target, package}:
                raise
            logger.debug("autodiscover: %s has no module %r", package, related_name)
            continue
        loaded.append(target)
    return loaded
