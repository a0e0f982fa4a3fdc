"""Compatibility import path ``celery.result``."""

from __future__ import annotations

from celeriac.results.async_result import AsyncResult, EagerResult

__all__ = ["AsyncResult", "EagerResult"]
