"""Reading settings out of a config object: ``app.config_from_object``'s engine.

A config source is a module, a class, an instance, a mapping, or an import string naming
one of those (``'celeryconfig'``, ``'proj.settings:Config'``, ``'django.conf:settings'``).
Its public all-lowercase and all-UPPERCASE attributes are collected and old names are
translated, so the result is keyed by new names and can go straight into ``Settings``.

With ``namespace='CELERY'`` (Django style) only ``CELERY_``-prefixed names are taken, the
prefix is stripped and the rest is resolved like Celery does: first as a new name
(``CELERY_TASK_ALWAYS_EAGER`` -> ``task_always_eager``), then as an old name, with or
without the prefix (``CELERY_BROKER_URL`` -> ``broker_url``, ``CELERY_ACKS_LATE`` ->
``task_acks_late``). Anything else is kept, lowercased, as a user setting.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from celeriac.config.schema import OLD_TO_NEW, OPTIONS
from celeriac.exceptions import ImproperlyConfigured


def load_object_settings(obj: Any, namespace: str | None = None) -> dict[str, Any]:
    """Collect the settings defined by ``obj``, keyed by new names.

    Args:
        obj: A module, class, instance or mapping, or an import string
            (``'pkg.module'``, ``'pkg.module:attr'``, ``'pkg.module.attr'``).
        namespace: Only take names with this prefix (e.g. ``'CELERY'``) and strip it.

    Returns:
        New name -> value; unknown names are kept (user settings). When a source gives both
        an old and a new name for one option, the new name wins.

    Raises:
        ImproperlyConfigured: the import string cannot be imported (the message names the
            module and the missing piece).
    """
    source = import_config_object(obj) if isinstance(obj, str) else obj
    raw = dict(_public_items(source))
    if namespace:
        return _strip_namespace(raw, namespace)
    return _translate(raw.items())


def import_config_object(path: str) -> Any:
    """Import ``path`` the way Celery's loader does, with the current directory importable.

    ``'pkg.module'`` is tried as a module first, then as ``module.attribute``;
    ``'pkg.module:attr'`` always names an attribute (dots in ``attr`` walk further).

    Raises:
        ImproperlyConfigured: the module or attribute does not exist, or importing the
            module raised ImportError (the original error is chained).
    """
    if path.endswith(".py"):
        raise ImproperlyConfigured(
            f"Config module {path!r} is a file name: use the module name {path[:-3]!r}"
        )
    module_name, colon, attr = path.partition(":")
    with _cwd_on_path():
        if colon:
            return _getattr_path(_import_module(module_name, path), attr, path)
        try:
            return importlib.import_module(path)
        except ModuleNotFoundError as exc:
            parent, dot, attr = path.rpartition(".")
            if exc.name != path or not dot:
                raise _import_error(path, exc) from exc
        except ImportError as exc:
            raise _import_error(path, exc) from exc
        return _getattr_path(_import_module(parent, path), attr, path)


def _import_module(name: str, path: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise _import_error(path, exc) from exc


def _import_error(path: str, exc: ImportError) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"Cannot import config {path!r}: {exc}. Check the spelling and that its package is "
        f"on sys.path (current directory: {os.getcwd()!r})."
    )


def _getattr_path(obj: Any, attr: str, path: str) -> Any:
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ImproperlyConfigured(
                f"Cannot load config {path!r}: {obj!r} has no attribute {part!r}"
            ) from exc
    return obj


@contextmanager
def _cwd_on_path() -> Iterator[None]:
    # Celery imports config modules "from cwd" so `celery -A proj` finds ./celeryconfig.py
    # even when the console script's directory is first on sys.path.
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _public_items(source: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(source, Mapping):
        items: Iterator[tuple[str, Any]] = (
            (key, value) for key, value in source.items() if isinstance(key, str)
        )
    else:
        items = ((name, getattr(source, name)) for name in dir(source) if _is_setting(name))
    for name, value in items:
        if _is_setting(name) and not _is_code(name, value):
            yield name, value


def _is_setting(name: str) -> bool:
    return not name.startswith("_") and (name.islower() or name.isupper())


def _is_code(name: str, value: Any) -> bool:
    # `import os` or a helper function in a config module is not a setting; a declared
    # option is always kept, since task_routes or beat_scheduler may legitimately be code.
    if name in OPTIONS or name in OLD_TO_NEW:
        return False
    return inspect.ismodule(value) or inspect.isroutine(value) or inspect.isclass(value)


def _translate(items: Any) -> dict[str, Any]:
    # Old names first, so a new name given in the same source overrides its old spelling.
    ordered = sorted(items, key=lambda item: item[0] not in OLD_TO_NEW)
    return {OLD_TO_NEW.get(key, key): value for key, value in ordered}


def _strip_namespace(raw: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    prefix = namespace.rstrip("_").upper() + "_"
    resolved: list[tuple[int, str, Any]] = []
    for key, value in raw.items():
        if key.upper().startswith(prefix):
            rank, name = _resolve_namespaced(key, key[len(prefix) :])
            resolved.append((rank, name, value))
    # Lower rank wins: a new name beats an old one for the same option.
    resolved.sort(key=lambda entry: -entry[0])
    return {name: value for _, name, value in resolved}


def _resolve_namespaced(key: str, rest: str) -> tuple[int, str]:
    if rest.lower() in OPTIONS:
        return 0, rest.lower()
    for candidate in (rest.upper(), key.upper()):
        if candidate in OLD_TO_NEW:
            return 1, OLD_TO_NEW[candidate]
    return 0, rest.lower()


__all__ = ["import_config_object", "load_object_settings"]
