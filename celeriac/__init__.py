"""celeriac: a distributed task queue that speaks Celery's wire protocol.

Change one import (``from celeriac import Celery``) and a Celery project runs on celeriac.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from celeriac.utils.lazy import lazy_getattr


class version_info_t(NamedTuple):
    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


#: The one version number: pyproject.toml reads it from here (``[tool.setuptools.dynamic]``).
__version__ = "0.1.0"
#: The release series' name, as Celery's ``SERIES`` ("collider" for 5.7).
SERIES = "first shoots"
_MAJOR, _MINOR, _MICRO = (int(part) for part in __version__.split("."))
VERSION = version_info = version_info_t(_MAJOR, _MINOR, _MICRO, "", "")
VERSION_BANNER = f"{__version__} ({SERIES})"


def bugreport(app: Any = None) -> str:
    """Celery's ``bugreport()``: versions and settings (secrets masked) of ``app``, or the
    current app, to paste into a bug report."""
    if app is None:
        from celeriac.app.shared import current_app

        app = current_app
    return str(app.bugreport())

if TYPE_CHECKING:
    from celeriac.app.base import Celeriac, Celery
    from celeriac.app.shared import shared_task
    from celeriac.app.task import Task

    # chain, chord, chunks, group and signature are also submodule names of celeriac.canvas,
    # which type checkers resolve to the modules: they stay lazy-only here.
    from celeriac.canvas import Signature, maybe_signature, xmap, xstarmap
    from celeriac.results.async_result import AsyncResult
    from celeriac.results.group_result import GroupResult, ResultSet
    from celeriac.routing import Exchange, Queue
    from celeriac.utils import uuid

_LAZY = {
    "Celery": "celeriac.app.base",
    "Celeriac": "celeriac.app.base",
    "Task": "celeriac.app.task",
    "shared_task": "celeriac.app.shared",
    "Signature": "celeriac.canvas",
    "signature": "celeriac.canvas",
    "subtask": "celeriac.canvas",
    "AsyncResult": "celeriac.results.async_result",
    "current_app": "celeriac.app.shared",
    "chain": "celeriac.canvas",
    "chord": "celeriac.canvas",
    "group": "celeriac.canvas",
    "chunks": "celeriac.canvas",
    "xmap": "celeriac.canvas",
    "xstarmap": "celeriac.canvas",
    "maybe_signature": "celeriac.canvas",
    "GroupResult": "celeriac.results.group_result",
    "ResultSet": "celeriac.results.group_result",
    "Exchange": "celeriac.routing",
    "Queue": "celeriac.routing",
    "current_task": "celeriac.app.shared",
    "uuid": "celeriac.utils",
}


__getattr__ = lazy_getattr('celeriac', _LAZY, globals())


__all__ = [
    "SERIES",
    "VERSION",
    "VERSION_BANNER",
    "AsyncResult",
    "Celeriac",
    "Celery",
    "Exchange",
    "GroupResult",
    "Queue",
    "ResultSet",
    "Signature",
    "Task",
    "__version__",
    "bugreport",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "subtask",
    "uuid",
    "version_info",
    "version_info_t",
    "xmap",
    "xstarmap",
]
