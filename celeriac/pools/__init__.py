"""Pool selection by name (``-P solo|threads|prefork``)."""

from __future__ import annotations

import difflib
from typing import Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import Pool


def create_pool(name: str, concurrency: int, **context: Any) -> Pool:
    """Build the pool called ``name`` with ``concurrency`` slots."""
    key = (name or "prefork").lower()
    if key == "solo":
        from celeriac.pools.solo import SoloPool

        return SoloPool(hostname=context.get("hostname"))
    if key in {"threads", "thread"}:
        from celeriac.pools.threads import ThreadsPool

        return ThreadsPool(concurrency)
    if key in {"prefork", "processes"}:
        from celeriac.pools.prefork import PreforkPool

        pool: Pool = PreforkPool(concurrency, **context)
        return pool
    known = ["prefork", "solo", "threads"]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ImproperlyConfigured(f"Unknown pool {name!r}.{hint} Known pools: {', '.join(known)}")
