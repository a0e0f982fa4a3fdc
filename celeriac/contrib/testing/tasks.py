"""The task the in-process worker's ping check sends (Celery's ``celery.ping``)."""

from __future__ import annotations

from typing import Any

from celeriac.app.shared import shared_task


def _pong() -> str:
    """Simple task that just returns 'pong'."""
    return "pong"


#: ``celery.ping``, bound to every app (a shared task, as Celery's).
ping: Any = shared_task(name="celery.ping")(_pong)
