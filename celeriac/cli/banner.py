"""The worker's start-up banner, laid out like Celery's; URLs are shown with passwords masked."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from celeriac import __version__
from celeriac.config import redact_url

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.worker.worker import Worker


def queue_line(app: Celery, name: str) -> str:
    """``name exchange=<exchange>(<type>) key=<binding key>`` as Celery's banner shows a queue.

    The exchange and key are the queue's real main binding from ``task_queues`` (or the one a
    missing queue gets); a queue bound only through ``bindings`` shows the first of them, and
    further bindings follow as ``+exchange(type) key``.
    """
    try:
        queue = app.router.queues[name]
    except Exception as exc:  # QueueNotFound, a bad setting: the worker reports it itself
        return f"{name:<16} ({type(exc).__name__}: {exc})"
    bindings = queue.all_bindings()
    if not bindings:
        own = queue.exchange_entity
        kind = own.type if own is not None else "direct"
        return f"{name:<16} exchange=({kind}) key={queue.routing_key or name}"
    first, rest = bindings[0], bindings[1:]
    exchange = first.exchange
    line = f"{name:<16} exchange={exchange.name}({exchange.type}) key={first.routing_key}"
    extra = " ".join(f"+{b.exchange.name}({b.exchange.type}) {b.routing_key}" for b in rest)
    return f"{line} {extra}" if extra else line


def _task_events(app: Celery, worker: Worker) -> str:
    """Celery's wording for whether ``task-*`` events are sent."""
    enabled = worker.options.task_events
    if enabled is None:
        enabled = bool(app.conf.worker_send_task_events)
    return "ON" if enabled else "OFF (enable -E to monitor tasks in this worker)"


def startup_banner(app: Celery, worker: Worker, ignored: Sequence[str] = ()) -> str:
    """Celery's banner; ``ignored`` lists accepted flags that have no effect, one a line."""
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
        f"- *** --- * --- .> concurrency: {_concurrency(worker)} ({worker.pool.name}){pool_note}",
        f"-- ******* ---- .> task events: {_task_events(app, worker)}",
        "--- ***** ----- ",
        " -------------- [queues]",
        *(f"                .> {queue_line(app, queue)}" for queue in worker.queues),
        "",
        "[tasks]",
        *(f"  . {name}" for name in app.tasks.user_tasks()),
        "",
    ]
    if ignored:
        lines += ["[ignored options]", *(f"  ! {note}" for note in ignored), ""]
    return "\n".join(lines)


def _concurrency(worker: Worker) -> str:
    """``4``, or with ``--autoscale 10,3`` Celery's ``{min=3, max=10}``."""
    autoscale = worker.options.autoscale
    return f"{{min={autoscale[1]}, max={autoscale[0]}}}" if autoscale else str(worker.concurrency)
