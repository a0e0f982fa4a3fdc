"""The task the in-process worker's ping check sends (Celery's ``celery.ping``)."""

from __future__ import annotations

from celeriac.app.shared import shared_task


@shared_task(name="celery.ping")
def ping() -> str:
    """Simple task that just returns 'pong'."""
    return "pong"
