"""The app's configuration methods (``config_from_*``, ``add_defaults``, autodiscovery).

A mixin of ``Celery``, split out of ``app/base.py``. celeriac's ``app.conf`` is read eagerly
(there is no lazy "configured" state as in Celery), so each method applies its values at
once; the ``force=`` arguments Celery takes for that are accepted and need nothing more.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.app.autodiscover import autodiscover
from celeriac.app.fixups import discovered_packages
from celeriac.config import Settings, load_object_settings
from celeriac.config.schema import OLD_TO_NEW, OPTIONS

PackageSource = Callable[[], Iterable[str]] | Iterable[str]

#: ``(json)value`` etc. in ``config_from_cmdline``: Celery's explicit casts.
_CAST = re.compile(r"\((\w+)\)")
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def _cast(name: str, value: str) -> Any:
    """A command-line string as the type setting ``name`` takes (Celery's ``to_python``)."""
    cast = _CAST.match(value)
    if cast:
        kind, raw = cast.group(1), value[cast.end():]
        casts: dict[str, Callable[[str], Any]] = {
            "json": json.loads, "list": json.loads, "tuple": json.loads, "dict": json.loads,
            "int": int, "float": float, "string": str, "str": str,
            "bool": lambda text: _cast_bool(name, text)}
        if kind not in casts:
            raise ValueError(f"{name!r}: unknown cast ({kind})")
        return casts[kind](raw)
    option = OPTIONS.get(OLD_TO_NEW.get(name, name))
    kinds = option.type if option is not None else str
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    try:
        if bool in kinds:
            return _cast_bool(name, value)
        if int in kinds and float not in kinds:
            return int(value)
        if float in kinds:
            return float(value)
        if str not in kinds and any(k in kinds for k in (list, tuple, Mapping)):
            return json.loads(value)
    except ValueError as exc:
        raise ValueError(f"{name!r}: {exc}") from exc
    return value


def _cast_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name!r}: cannot read {value!r} as a boolean")


def parse_cmdline_config(argv: Sequence[str], namespace: str | None = "celery") -> dict[str, Any]:
    """``['broker_url=redis://', '_x=1']`` as settings, read as Celery's loader reads them:
    ``.key``/``_key`` means the namespace's key, ``(json)...`` casts explicitly."""
    settings: dict[str, Any] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"{arg!r}: expected key=value")
        key = key.lower().replace(".", "_")
        if key.startswith("_"):
            key = f"{namespace.lower()}_{key[1:]}" if namespace else key[1:]
        settings[key] = _cast(key, value)
    return settings


class AppConfiguration:
    """Mixin of ``Celery``: reading configuration and choosing the task modules."""

    conf: Settings
    _fixups: list[Any]
    _pending_autodiscover: list[tuple[PackageSource, str]]

    if TYPE_CHECKING:
        def _reset_lazy(self) -> None: ...  # AppConnections's

    def config_from_object(self, obj: Any, silent: bool = False, force: bool = False,
                           namespace: str | None = None) -> None:
        """Load settings from a module, an object or an import string (Celery's semantics)."""
        try:
            values = load_object_settings(obj, namespace=namespace)
        except Exception:
            if silent:
                return
            raise
        self.conf.update(values)
        self._reset_lazy()

    def config_from_envvar(self, variable_name: str, silent: bool = False,
                           force: bool = False) -> bool | None:
        """Load the settings module named by environment variable ``variable_name``.

        Returns False when it is unset and ``silent``; raises ``ImproperlyConfigured`` when
        it is unset otherwise.
        """
        module = os.environ.get(variable_name)
        if not module:
            if silent:
                return False
            from celeriac.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"The environment variable {variable_name!r} is not set, and as such the "
                "configuration could not be loaded. Please set this variable and make sure "
                "it points to a valid configuration module.")
        self.config_from_object(module, silent=silent, force=force)
        return None

    def config_from_cmdline(self, argv: Sequence[str], namespace: str = "celery") -> None:
        """Apply ``key=value`` arguments (typed as the settings are; ``(json)`` to cast)."""
        self.conf.update(parse_cmdline_config(argv, namespace))
        self._reset_lazy()

    def add_defaults(self, fun: Mapping[str, Any] | Callable[[], Mapping[str, Any]]) -> None:
        """Settings that apply where nothing else set them (a mapping, or a callable
        returning one). celeriac has no lazy configuration, so a callable is called now."""
        values = fun() if callable(fun) else fun
        self.conf.update({key: value for key, value in dict(values).items()
                          if not self.conf.value_set_for(key)})
        self._reset_lazy()

    def autodiscover_tasks(
        self,
        packages: PackageSource | None = None,
        related_name: str = "tasks",
        force: bool = False,
    ) -> None:
        """Import ``<package>.tasks`` for each package, now if ``force`` else at worker start.

        Without ``packages``: the packages the fix-ups list (with Django, every app of
        ``INSTALLED_APPS``, asked once Django's app registry is ready), else the
        ``installed_apps`` setting.
        """
        if packages is None:
            packages = self._default_task_packages
        if force:
            resolved = packages() if callable(packages) else packages
            autodiscover(list(resolved), related_name)
        else:
            self._pending_autodiscover.append((packages, related_name))

    def _default_task_packages(self) -> list[str]:
        if self._fixups:
            return discovered_packages(self._fixups)
        return list(self.conf.get("installed_apps") or [])


__all__ = ["AppConfiguration", "parse_cmdline_config"]
