"""celeriac.beat: periodic task scheduling; also the ``celery.beat`` import path.

``from celeriac.beat import Scheduler, PersistentScheduler, ScheduleEntry, Service`` gives
Celery's classes (see :mod:`celeriac.beat.celery_api` for the overridable methods). The schedule
types are imported from ``celeriac.schedules`` (the ``celery.schedules`` compat path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.beat.celery_api import BeatLazyFunc, SchedulingError, event_t
    from celeriac.beat.embedded import Service
    from celeriac.beat.entry import ScheduleEntry
    from celeriac.beat.scheduler import PersistentScheduler, Scheduler

_LAZY = {
    "BeatLazyFunc": "celeriac.beat.celery_api",
    "SchedulingError": "celeriac.beat.celery_api",
    "event_t": "celeriac.beat.celery_api",
    "ScheduleEntry": "celeriac.beat.entry",
    "Scheduler": "celeriac.beat.scheduler",
    "PersistentScheduler": "celeriac.beat.scheduler",
    "Service": "celeriac.beat.embedded",
}


def __getattr__(name: str) -> Any:
    """Import on first use: the schedule modules load this package without the scheduler."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'celeriac.beat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__all__ = ["BeatLazyFunc", "PersistentScheduler", "ScheduleEntry", "Scheduler",
           "SchedulingError", "Service", "event_t"]
