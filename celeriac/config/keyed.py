"""Typed option objects built from a free-form ``*_transport_options`` dict, with honest keys.

``broker_transport_options`` and ``result_backend_transport_options`` are dicts Celery passes
to kombu untouched. celeriac turns them into frozen dataclasses once, when the transport or
store is built, so no component reads a dict per message and a typo cannot pass unnoticed:
a key nothing reads is logged at once with the keys that are known, and a key Celery or kombu
understands but celeriac does not act on is logged with the reason (as ``Option(unsupported=
...)`` does for settings). Each message is logged once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from typing import Any, ClassVar, Self

logger = logging.getLogger(__name__)

_reported: set[tuple[str, str, str]] = set()


def option(default: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field whose value (given or default) passes through ``convert``."""
    meta = {"convert": convert} if convert is not None else {}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


def optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert``, except that None (not set) stays None."""
    return lambda value: None if value is None else convert(value)


def as_mapping(value: Any) -> dict[str, Any]:
    return dict(value or {})


class KeyedOptions:
    """Base of the typed transport/store option dataclasses (frozen, slots)."""

    __slots__ = ()

    #: Shown in messages: "the redis transport".
    WHAT: ClassVar[str] = "this transport"
    #: Other names a key is accepted under (kombu's spellings): alias -> field.
    ALIASES: ClassVar[Mapping[str, str]] = {}
    #: Keys Celery or kombu read that celeriac does not act on: key -> why.
    IGNORED: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for spec in fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            convert = spec.metadata.get("convert")
            if convert is not None:
                object.__setattr__(self, spec.name, convert(getattr(self, spec.name)))

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(spec.name for spec in fields(cls))  # type: ignore[arg-type]

    @classmethod
    def known_keys(cls) -> list[str]:
        return sorted({*cls.field_names(), *cls.ALIASES})

    @classmethod
    def build(cls, given: Mapping[str, Any] | None, *, setting: str | None = None,
              defaults: Mapping[str, Any] | None = None) -> Self:
        """The options ``given`` names over ``defaults`` (values mapped in from settings).

        ``setting`` names the dict ``given`` came from; with it, keys that are not acted on
        are logged. Without it (a second reader of the same dict) they are skipped quietly.
        """
        known = cls.field_names()
        values = {key: value for key, value in (defaults or {}).items() if key in known}
        for key, value in (given or {}).items():
            name = cls.ALIASES.get(key, key)
            if name in known:
                values[name] = value
            elif setting is not None:
                _report(cls, setting, str(key))
        return cls(**values)


def _report(cls: type[KeyedOptions], setting: str, key: str) -> None:
    if (setting, cls.WHAT, key) in _reported:
        return
    _reported.add((setting, cls.WHAT, key))
    why = cls.IGNORED.get(key)
    if why is not None:
        logger.warning("%s[%r] has no effect on %s in celeriac: %s", setting, key, cls.WHAT, why)
    else:
        known = ", ".join(cls.known_keys()) or "none"
        logger.warning("%s[%r] is not an option of %s and is ignored. Known keys: %s",
                       setting, key, cls.WHAT, known)


__all__ = ["KeyedOptions", "as_mapping", "option", "optional"]
