"""One declared setting: its new lowercase name, Celery's default, its old UPPERCASE names.

Every setting celeriac reads is declared exactly once as an :class:`Option` in one of the
namespace tables next to this module (``broker``, ``result``, ``task``, ``worker``,
``general``). :mod:`celeriac.config.settings` uses the table to translate old names, fill in
defaults and redact secrets; option dataclasses for subsystems are frozen from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Final

#: Accepted value types, named once so the tables read like Celery's ``type='...'``.
#: ``None`` is accepted by every option and means "not set / use the documented fallback".
STR: Final = str
BOOL: Final = bool
INT: Final = int
FLOAT: Final = (int, float)
SECONDS: Final = (int, float, timedelta)
DICT: Final = Mapping
SEQ: Final = (list, tuple, set, frozenset)
ANY: Final = object
CLASS_OR_PATH: Final = (str, type)
TZ: Final = (str, tzinfo)


@dataclass(frozen=True, slots=True)
class Option:
    """A declared setting.

    Attributes:
        name: The new lowercase name (Celery 4+), the key settings are stored under.
        default: Celery's default, byte for byte, except durations (``SECONDS`` options),
            which are normalized to float seconds so callers never see a ``timedelta``.
            Mutable defaults (dicts, lists) are copied per ``Settings`` before use.
        type: The types a non-``None`` value may have (for ``isinstance``); documentation
            and validation only, values are not coerced on assignment.
        old_names: Every UPPERCASE pre-4.0 name that means this option: exactly the ones
            ``celery.app.defaults`` maps, plus the spellings Celery's documentation table
            advertises where they differ from the code (a user following the docs must not
            be silently ignored).
        secret: Shown as ``'********'`` in reprs, logs and ``humanize()``.
        doc: Why you would change it; the full story lives in Celery's configuration docs.
        unsupported: Empty when celeriac acts on the setting; otherwise why it does not
            (one sentence, ideally with what to do instead). Setting an unsupported option
            to anything but its default logs that reason once per process
            (:mod:`celeriac.config.settings`), so nothing is accepted and silently ignored.
    """

    name: str
    default: Any
    type: type | tuple[type, ...]
    old_names: tuple[str, ...] = ()
    secret: bool = False
    doc: str = ""
    unsupported: str = ""

    @property
    def supported(self) -> bool:
        """Whether celeriac acts on this setting (see ``unsupported``)."""
        return not self.unsupported

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has an accepted type (``None`` always is)."""
        return value is None or isinstance(value, self.type)


#: Reasons shared by several unsupported options (see ``Option.unsupported``).
NOT_IMPLEMENTED: Final = "not implemented"
