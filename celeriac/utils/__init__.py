"""Small helpers shared across celeriac; also the ``celery.utils`` names user code imports
(``uuid``, ``cached_property``, ``chunks``, ``noop``, ``nodename``, ``nodesplit``,
``LOG_LEVELS``)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

from celeriac.utils.ids import new_id
from celeriac.utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from celeriac.utils.log import LOG_LEVELS
    from celeriac.utils.nodenames import nodename, nodesplit

#: A random UUID4 string (``celery.uuid`` / ``celery.utils.uuid``); Celery's old name too.
uuid = gen_unique_id = new_id


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing (a default callback)."""


def chunks(it: Iterator[Any], n: int) -> Iterator[list[Any]]:
    """Lists of ``n`` items from the iterator ``it`` (the last one shorter)."""
    for item in it:
        yield [item, *islice(it, n - 1)]


_LAZY = {
    "LOG_LEVELS": "celeriac.utils.log",
    "nodename": "celeriac.utils.nodenames",
    "nodesplit": "celeriac.utils.nodenames",
}
__getattr__ = lazy_getattr("celeriac.utils", _LAZY, globals())

__all__ = ["LOG_LEVELS", "cached_property", "chunks", "gen_unique_id", "nodename", "nodesplit",
           "noop", "uuid"]
