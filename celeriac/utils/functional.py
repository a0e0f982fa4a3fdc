"""Small helpers on values, named after Celery's ``celery.utils.functional``."""

from __future__ import annotations

from typing import Any


def as_list(value: Any) -> list[Any]:
    """Celery's ``maybe_list`` made total: None is ``[]``, a list or tuple its items, anything
    else (a signature, a stamp value) a list of one."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


__all__ = ["as_list"]
