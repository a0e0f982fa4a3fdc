"""Canvas: signatures and workflow primitives (import path ``celeriac.canvas``)."""

from __future__ import annotations

from celeriac.canvas.chain import _chain, chain
from celeriac.canvas.chord import _chord, chord
from celeriac.canvas.chunks import chunks, register_builtins, xmap, xstarmap
from celeriac.canvas.group import group, maybe_unroll_group
from celeriac.canvas.signature import (
    Signature,
    maybe_signature,
    maybe_subtask,
    signature,
    subtask,
)
from celeriac.canvas.stamping import StampingVisitor

# ``_chain``/``_chord``: Celery's class names, for code that checks ``isinstance(x, _chain)``.
__all__ = [
    "Signature",
    "StampingVisitor",
    "_chain",
    "_chord",
    "chain",
    "chord",
    "chunks",
    "group",
    "maybe_signature",
    "maybe_subtask",
    "maybe_unroll_group",
    "register_builtins",
    "signature",
    "subtask",
    "xmap",
    "xstarmap",
]
