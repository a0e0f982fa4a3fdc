"""celeriac: a distributed task queue that speaks Celery's wire protocol.

Change one import (``from celeriac import Celery``) and a Celery project runs on celeriac.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.utils.lazy import lazy_getattr

#: The one version number: pyproject.toml reads it from here (``[tool.setuptools.dynamic]``).
__version__ = "0.1.0"
VERSION = tuple(int(part) for part in __version__.split("."))

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
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "uuid",
    "xmap",
    "xstarmap",
]
