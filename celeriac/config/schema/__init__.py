"""The one table of settings: every option celeriac reads, keyed by its new lowercase name.

The table is split by namespace (``broker``, ``result``, ``task``, ``worker``, ``general``)
so each file stays readable; this module joins them and derives the old-name index.
A name declared twice, or an old name claimed by two options, fails at import: the
translation must be unambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from celeriac.config.schema import broker, general, result, task, worker
from celeriac.config.schema.option import Option


def _index(options: Iterable[Option]) -> tuple[dict[str, Option], dict[str, str]]:
    by_name: dict[str, Option] = {}
    old_to_new: dict[str, str] = {}
    for option in options:
        if option.name in by_name or option.name != option.name.lower():
            raise ValueError(f"setting {option.name!r} declared twice or not lowercase")
        by_name[option.name] = option
        for old in option.old_names:
            if old in old_to_new:
                raise ValueError(
                    f"old name {old!r} claimed by {old_to_new[old]!r} and {option.name!r}"
                )
            old_to_new[old] = option.name
    return by_name, old_to_new


_BY_NAME, _OLD_TO_NEW = _index(general.ALL + broker.ALL + result.ALL + task.ALL + worker.ALL)

#: Every declared option by new name.
OPTIONS: Final[Mapping[str, Option]] = MappingProxyType(_BY_NAME)

#: Old UPPERCASE name -> new name.
OLD_TO_NEW: Final[Mapping[str, str]] = MappingProxyType(_OLD_TO_NEW)

__all__ = ["OLD_TO_NEW", "OPTIONS", "Option"]
