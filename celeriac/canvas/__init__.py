"""Canvas: signatures and workflow primitives (import path ``celeriac.canvas``)."""

from __future__ import annotations

from celeriac.canvas.signature import Signature, signature

__all__ = ["Signature", "signature"]
