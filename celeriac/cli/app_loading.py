"""Finding the app named by ``-A``: ``module:attr``, ``module.attr``, or a module (or
package with a ``celery`` submodule) holding one, as Celery's lookup does."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, TypeGuard

from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.base import Celery


def _is_app(value: Any) -> TypeGuard[Celery]:
    from celeriac.app.base import Celery

    return isinstance(value, Celery)


def _from_module(module: Any) -> Celery | None:
    for attr in ("app", "celery"):
        candidate = getattr(module, attr, None)
        if _is_app(candidate):
            return candidate
        if candidate is not None and hasattr(candidate, "__path__") is False \
                and hasattr(candidate, "__file__"):
            found = _from_module(candidate)
            if found is not None:
                return found
    for value in vars(module).values():
        if _is_app(value):
            return value
    return None


def find_app(name: str) -> Celery:
    """Import and return the app ``name`` points to.

    Raises:
        ImproperlyConfigured: nothing importable or no app found, saying what was tried.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name or "." not in module_name:
            raise ImproperlyConfigured(f"Unable to load app {name!r}: {exc}") from exc
        parent, _, attr = module_name.rpartition(".")
        module = importlib.import_module(parent)
    if attr:
        value = getattr(module, attr, None)
        if _is_app(value):
            return value
        if callable(value):
            produced = value()
            if _is_app(produced):
                return produced
        raise ImproperlyConfigured(f"{name!r}: attribute {attr!r} is not a Celery app")
    found = _from_module(module)
    if found is None and hasattr(module, "__path__"):
        try:
            found = _from_module(importlib.import_module(f"{module_name}.celery"))
        except ModuleNotFoundError:
            found = None
    if found is None:
        raise ImproperlyConfigured(
            f"Could not find a Celery app in module {module_name!r}: "
            "tried attributes 'app' and 'celery', any Celery instance, and a 'celery' submodule."
        )
    return found
