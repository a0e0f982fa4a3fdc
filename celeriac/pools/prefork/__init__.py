"""The prefork pool (``-P prefork``, the default): forked child processes run the tasks."""

from __future__ import annotations

from celeriac.pools.prefork.pool import PreforkPool

__all__ = ["PreforkPool"]
