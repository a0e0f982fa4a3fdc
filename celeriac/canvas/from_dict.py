"""Rebuilding canvas objects from their dict form (a message embed, a stored beat entry).

Kept apart from ``signature.py`` because the canvas classes import ``Signature``: the lookup
imports them on first use, so any module can call ``Signature.from_dict`` without cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from celeriac.canvas.signature import Signature

_MODULES: Final = {
    "chain": "celeriac.canvas.chain",
    "group": "celeriac.canvas.group",
    "chord": "celeriac.canvas.chord",
    "chunks": "celeriac.canvas.chunks",
    "xmap": "celeriac.canvas.chunks",
    "xstarmap": "celeriac.canvas.chunks",
}


def canvas_class(subtask_type: str) -> type[Signature] | None:
    """The class registered for ``subtask_type`` (``None`` for unknown types: kept plain)."""
    from celeriac.canvas.signature import SUBTASK_TYPES

    cls = SUBTASK_TYPES.get(subtask_type)
    if cls is None and subtask_type in _MODULES:
        importlib.import_module(_MODULES[subtask_type])
        cls = SUBTASK_TYPES.get(subtask_type)
    return cls


__all__ = ["canvas_class"]
