"""Pool selection by name (``-P solo|threads|prefork``)."""

from __future__ import annotations

import difflib

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import Pool, PoolOptions


def create_pool(name: str, options: PoolOptions) -> Pool:
    """Build the pool called ``name``."""
    key = (name or "prefork").lower()
    if key == "solo":
        from celeriac.pools.solo import SoloPool

        return SoloPool(options)
    if key in {"threads", "thread"}:
        from celeriac.pools.threads import ThreadsPool

        return ThreadsPool(options)
    if key in {"prefork", "processes"}:
        from celeriac.pools.prefork import PreforkPool

        pool: Pool = PreforkPool(options)
        return pool
    known = ["prefork", "solo", "threads"]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ImproperlyConfigured(f"Unknown pool {name!r}.{hint} Known pools: {', '.join(known)}")
