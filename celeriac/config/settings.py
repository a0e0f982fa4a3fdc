"""``app.conf``: the user-facing mapping of settings, speaking both old and new names.

Values are stored under the new lowercase name only; ``conf['BROKER_URL']``,
``conf.BROKER_URL`` and ``conf.broker_url`` all read and write ``broker_url``. Unset
options read as the schema's default. Names the schema does not know are stored as given,
because Celery users keep their own settings in ``app.conf`` too; a name that looks like a
misspelt setting triggers a :class:`CeleriacWarning` instead of being silently ignored.

Unlike Celery, mixing old and new names in one configuration is allowed: Celery raises
``ImproperlyConfigured`` ("Cannot mix new and old setting keys"), but since every old name
maps to exactly one new name there is nothing ambiguous to refuse. When one update gives
both spellings of the same option, the new name wins whatever the order.

Components never read ``Settings`` on the hot path: they take frozen option dataclasses
built from it once at startup (house style rule 12).
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import timedelta
from pprint import pformat
from typing import Any, Final

from celeriac.config.schema import OLD_TO_NEW, OPTIONS
from celeriac.config.urls import redact_url

logger = logging.getLogger(__name__)

#: Unsupported options already reported in this process (the warning is once per name).
_reported_unsupported: set[str] = set()


class CeleriacWarning(UserWarning):
    """Something in the configuration is probably not what you meant (a misspelt name)."""


#: What a secret value is shown as.
REDACTED: Final = "********"

#: Keys whose values are hidden in reprs even when the schema does not declare them
#: (user settings, nested option dicts): Celery's ``HIDDEN_SETTINGS`` pattern.
_HIDDEN_KEY: Final = re.compile(
    "API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE|BEAT_DBURI", re.IGNORECASE
)

#: Options whose ``None`` means "the value of another option" (Celery's ``conf.first``).
_FALLBACKS: Final[Mapping[str, str]] = {
    "task_default_exchange": "task_default_queue",
    "task_default_routing_key": "task_default_queue",
}

#: Lowercased known name -> the name to suggest for it (new names preferred).
_SUGGESTIONS: Final[dict[str, str]] = {old.lower(): new for old, new in OLD_TO_NEW.items()}
_SUGGESTIONS.update({name: name for name in OPTIONS})
_OLD_BY_LOWER: Final[dict[str, str]] = {old.lower(): old for old in OLD_TO_NEW}
_CANDIDATES: Final[list[str]] = list(_SUGGESTIONS)
_TYPO_CUTOFF: Final = 0.8
_NAMESPACE_PREFIX: Final = "CELERY_"
_MUTABLE: Final = (dict, list, set)
_SLOTS: Final = frozenset({"_changes", "_defaults", "_version"})
_PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def canonical_name(key: str) -> str:
    """The name ``key`` is stored under: its new name if it is an old one, else itself."""
    return OLD_TO_NEW.get(key, key)


def _to_seconds(name: str, value: Any) -> Any:
    # Durations may be given as timedelta (Celery's result_expires default is one); readers
    # only ever see float seconds.
    if isinstance(value, timedelta):
        option = OPTIONS.get(name)
        if option is not None and isinstance(option.type, tuple) and timedelta in option.type:
            return value.total_seconds()
    return value


def _report_unsupported(name: str, value: Any) -> None:
    """Log, once per process, that ``name`` is accepted but has no effect, and why.

    ``None`` ("not set") and a value equal to Celery's default change nothing, so they are
    not reported: configs generated from Celery's defaults stay quiet.
    """
    option = OPTIONS.get(name)
    if option is None or option.supported or name in _reported_unsupported:
        return
    if value is None or value == option.default:
        return
    _reported_unsupported.add(name)
    logger.warning("Setting %r has no effect in celeriac: %s", name, option.unsupported)


def _user_stacklevel() -> int:
    # Point the warning at the user's line, not at Settings.update, Celery.__init__ or
    # config_from_object (Python 3.11 has no warnings.warn(skip_file_prefixes=...)).
    frame = sys._getframe(2)  # the caller of the function that calls warn()
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def suggest_setting(key: str) -> str | None:
    """The known setting ``key`` is most likely a misspelling of, or ``None``.

    Compares case-insensitively against new and old names. ``CELERY_``-prefixed spellings
    of new names (Django-style, loaded without ``namespace='CELERY'``) are caught too.
    """
    if key.startswith("_") or key in OPTIONS or key in OLD_TO_NEW:
        return None
    lowered = key.lower()
    if lowered.upper().startswith(_NAMESPACE_PREFIX):
        stripped = lowered[len(_NAMESPACE_PREFIX) :]
        if stripped in OPTIONS:
            return stripped
    matches = difflib.get_close_matches(lowered, _CANDIDATES, n=1, cutoff=_TYPO_CUTOFF)
    if not matches:
        return None
    best = matches[0]
    # An UPPERCASE typo of an old name is answered with the old name it resembles.
    if key.isupper() and best in _OLD_BY_LOWER and best not in OPTIONS:
        return _OLD_BY_LOWER[best]
    return _SUGGESTIONS[best]


class Settings(MutableMapping[str, Any]):
    """Celery-compatible configuration mapping (``app.conf``).

    Iteration, ``len`` and ``in`` cover every declared option plus the user's own keys, as
    Celery's ``conf`` does; :attr:`changes` holds only what was set explicitly.

    Args:
        changes: Initial settings, old or new names.
        **kwargs: More settings, applied after ``changes``.
    """

    __slots__ = ("_changes", "_defaults", "_version")

    _changes: dict[str, Any]
    _defaults: dict[str, Any]
    _version: int

    def __init__(self, changes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        object.__setattr__(self, "_changes", {})
        # Per-instance copies of mutable defaults, so conf.beat_schedule['x'] = ... on one
        # app never leaks into another app's defaults.
        object.__setattr__(self, "_defaults", {})
        # Bumped by every set/delete: consumers cache derived values (routes, send defaults)
        # per version instead of re-reading settings on every call.
        object.__setattr__(self, "_version", 0)
        self.update(changes, **kwargs)

    # -- mapping protocol ---------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        name = OLD_TO_NEW.get(key, key)
        try:
            value = self._changes[name]
        except KeyError:
            value = self._default(name, key)
        if value is None and name in _FALLBACKS:
            return self[_FALLBACKS[name]]
        return value

    def _default(self, name: str, key: str) -> Any:
        option = OPTIONS.get(name)
        if option is None:
            raise KeyError(key)
        default = option.default
        if isinstance(default, _MUTABLE):
            try:
                return self._defaults[name]
            except KeyError:
                default = self._defaults[name] = copy.deepcopy(default)
        return default

    def __setitem__(self, key: str, value: Any) -> None:
        name = OLD_TO_NEW.get(key, key)
        if name not in OPTIONS and name not in self._changes:
            best = suggest_setting(key)
            if best is not None:
                warnings.warn(
                    f"Unknown setting {key!r}: did you mean {best!r}?",
                    CeleriacWarning,
                    stacklevel=_user_stacklevel(),
                )
        value = _to_seconds(name, value)
        _report_unsupported(name, value)
        self._defaults.pop(name, None)
        self._changes[name] = value
        object.__setattr__(self, "_version", self._version + 1)

    def __delitem__(self, key: str) -> None:
        name = OLD_TO_NEW.get(key, key)
        self._defaults.pop(name, None)
        try:
            del self._changes[name]
        except KeyError:
            raise KeyError(key) from None
        object.__setattr__(self, "_version", self._version + 1)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = OLD_TO_NEW.get(key, key)
        return name in OPTIONS or name in self._changes

    def __iter__(self) -> Iterator[str]:
        yield from OPTIONS
        yield from (name for name in self._changes if name not in OPTIONS)

    def __len__(self) -> int:
        return len(OPTIONS) + sum(1 for name in self._changes if name not in OPTIONS)

    def update(  # type: ignore[override]  # one signature for mappings, pairs and kwargs
        self,
        mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        /,
        **kwargs: Any,
    ) -> None:
        """Set many settings at once, old or new names, mixed freely.

        When both the old and the new name of one option appear, the new name wins.
        """
        items: list[tuple[str, Any]] = []
        if isinstance(mapping, Mapping):
            items.extend(mapping.items())
        elif mapping is not None:
            items.extend(mapping)
        items.extend(kwargs.items())
        # Old names first, so an explicit new name overrides its old spelling.
        items.sort(key=lambda item: item[0] not in OLD_TO_NEW)
        for key, value in items:
            self[key] = value

    # -- attribute access ---------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, so methods and slots stay fast.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!s} has no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SLOTS:
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self]

    # -- introspection ------------------------------------------------------------------

    @property
    def changes(self) -> dict[str, Any]:
        """A copy of the explicitly set values, by new name."""
        return dict(self._changes)

    @property
    def version(self) -> int:
        """Bumped by every change; cache what you derive from settings per version."""
        return self._version

    def value_set_for(self, key: str) -> bool:
        """Whether ``key`` (old or new name) was set explicitly rather than defaulted."""
        return OLD_TO_NEW.get(key, key) in self._changes

    def copy(self) -> Settings:
        """An independent copy (mutable values are deep-copied)."""
        return type(self)._from_changes(copy.deepcopy(self._changes))

    @classmethod
    def _from_changes(cls, changes: dict[str, Any]) -> Settings:
        # Bypass __setitem__: the values were validated (and warned about) once already.
        settings = cls()
        object.__setattr__(settings, "_changes", changes)
        return settings

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._from_changes, (dict(self._changes),))

    def table(self, with_defaults: bool = False, censored: bool = True) -> dict[str, Any]:
        """The settings as a plain dict, secrets and URL passwords masked unless uncensored."""
        source = dict(self.items()) if with_defaults else self.changes
        if not censored:
            return source
        return {key: _censor(key, value) for key, value in source.items()}

    def humanize(self, with_defaults: bool = False, censored: bool = True) -> str:
        """One ``name: value`` line per setting, safe to log or paste into a bug report."""
        return "\n".join(
            f"{key}: {pformat(value, width=50)}"
            for key, value in sorted(self.table(with_defaults, censored).items())
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table()!r})"


def _censor(key: str, value: Any) -> Any:
    # Declared options are trusted to carry their own secret flag (so routing_key is not
    # hidden just for containing KEY); anything else falls back to Celery's name pattern.
    option = OPTIONS.get(key)
    if value is None:
        return None
    secret = option.secret if option is not None else bool(_HIDDEN_KEY.search(key))
    return REDACTED if secret else _censor_value(value)


def _censor_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, Mapping):
        return {
            key: _censor(key, item) if isinstance(key, str) else _censor_value(item)
            for key, item in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(_censor_value(item) for item in value)
    return value


__all__ = ["REDACTED", "CeleriacWarning", "Settings", "canonical_name", "suggest_setting"]
