"""celeriac.beat: periodic task scheduling; also the ``celery.beat`` import path.

``from celeriac.beat import Scheduler, PersistentScheduler, ScheduleEntry, Service`` gives
Celery's classes (see :mod:`celeriac.beat.celery_api` for the overridable methods). The schedule
types are imported from ``celeriac.schedules`` (the ``celery.schedules`` compat path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from celeriac.beat.celery_api import BeatLazyFunc, SchedulingError, event_t
    from celeriac.beat.embedded import EmbeddedService, Service
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
    "EmbeddedService": "celeriac.beat.embedded",
}


__getattr__ = lazy_getattr('celeriac.beat', _LAZY, globals())


__all__ = ["BeatLazyFunc", "EmbeddedService", "PersistentScheduler", "ScheduleEntry", "Scheduler",
           "SchedulingError", "Service", "event_t"]
