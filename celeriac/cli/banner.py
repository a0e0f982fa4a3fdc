"""The worker's start-up banner, laid out like Celery's; URLs are shown with passwords masked."""

from __future__ import annotations

import platform
from datetime import datetime
from typing import TYPE_CHECKING

from celeriac import __version__
from celeriac.config import redact_url

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.worker.worker import Worker


def startup_banner(app: Celery, worker: Worker) -> str:
    limits = worker.pool.limits
    unenforced = [name for name, ok in (("soft time limits", limits.soft_time_limit),
                                        ("hard time limits", limits.hard_time_limit)) if not ok]
    pool_note = f" (cannot enforce {', '.join(unenforced)})" if unenforced else ""
    backend = app.result_backend_url
    lines = [
        f" -------------- {worker.hostname} v{__version__}",
        f"--- ***** ----- {platform.platform()} {datetime.now():%Y-%m-%d %H:%M:%S}",
        "-- ******* ---- ",
        f"- *** --- * --- .> app:         {app.main or '__main__'}:{id(app):#x}",
        f"- ** ---------- .> transport:   {redact_url(app.broker_url)}",
        f"- ** ---------- .> results:     {redact_url(backend) if backend else 'disabled://'}",
        f"- *** --- * --- .> concurrency: {worker.concurrency} ({worker.pool.name}){pool_note}",
        "-- ******* ---- .> task events: OFF",
        "--- ***** ----- ",
        " -------------- [queues]",
        *(f"                .> {queue:<16} exchange={queue}(direct) key={queue}"
          for queue in worker.queues),
        "",
        "[tasks]",
        *(f"  . {name}" for name in app.tasks.user_tasks()),
        "",
    ]
    return "\n".join(lines)
