"""Importing by dotted name, with errors that say what to install or fix."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any, Final

from celeriac.exceptions import ImproperlyConfigured

#: Which extra provides which top-level module, for the "pip install" hint. Every optional
#: package celeriac imports is here (tests/unit/test_packaging.py checks it against
#: pyproject.toml), so a missing driver is always answered with the extra that installs it.
EXTRA_FOR_MODULE: Final[dict[str, str]] = {
    "redis": "redis",
    "amqp": "amqp",
    "msgpack": "msgpack",
    "yaml": "yaml",
    "orjson": "fast",
    "sqlalchemy": "sql",
    "pymemcache": "memcached",
    "django": "django",
    "pydantic": "pydantic",
    "sphinx": "sphinx",
    "docutils": "sphinx",
}


def import_symbol(path: str) -> Any:
    """Import ``'pkg.module:attr'`` (or ``'pkg.module.attr'``) and return the attribute.

    Raises:
        ImproperlyConfigured: the module needs an optional dependency that is missing; the
            message names the extra to install.
    """
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        extra = EXTRA_FOR_MODULE.get(missing)
        if extra is not None:
            raise ImproperlyConfigured(
                f"{path.split(':')[0]} needs the {missing!r} package: "
                f"pip install 'celeriac[{extra}]'"
            ) from exc
        raise
    try:
        return getattr(module, attr) if attr else module
    except AttributeError as exc:
        raise ImproperlyConfigured(f"{module_name!r} has no attribute {attr!r}") from exc


def import_alias(name: str, aliases: Mapping[str, str], kind: str) -> Any:
    """Import what ``aliases[name]`` points at (a URL scheme's transport or result store).

    Raises:
        ImproperlyConfigured: ``name`` is not in ``aliases`` (the message starts with
            ``kind``, offers a "did you mean" and lists the supported names), or its module
            needs a missing extra (see :func:`import_symbol`).
    """
    target = aliases.get(name)
    if target is None:
        close = difflib.get_close_matches(name, aliases, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ImproperlyConfigured(
            f"{kind} {name!r} is not supported by celeriac.{hint} "
            f"Supported: {', '.join(sorted(aliases))}"
        )
    return import_symbol(target)
