"""``WorkerInspector``: the read-mostly window remote-control handlers get on a worker.

Handlers never touch the worker object: they see this adapter, which answers from the
consumer's bookkeeping and forwards the few actions control may take (terminate a task,
change a rate or time limit, begin a warm shutdown).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.config.urls import redact_url
from celeriac.worker import queue_changes
from celeriac.worker.control.node import TaskInfo
from celeriac.worker.revoked import RevokedRegistry

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.pools.base import Pool
    from celeriac.worker.consumer import Consumer
    from celeriac.worker.events import WorkerEvents
    from celeriac.worker.gossip import Gossip
    from celeriac.worker.scaling import Scaling

_TASK_OPTIONS = ("rate_limit", "time_limit", "soft_time_limit", "acks_late", "ignore_result",
                 "max_retries", "queue", "serializer")


class WorkerInspector:
    """Implements ``worker.control.node.WorkerView`` over a running worker's parts."""

    def __init__(self, app: Celery, hostname: str, consumer: Consumer, pool: Pool,
                 queues: Sequence[str], revoked: RevokedRegistry,
                 shutdown: Callable[[], None], *, scaling: Scaling | None = None,
                 events: WorkerEvents | None = None, gossip: Gossip | None = None) -> None:
        self.app = app
        self.hostname = hostname
        self.consumer = consumer
        self.pool = pool
        self._queues = list(queues)
        self.revoked = revoked
        self._shutdown = shutdown
        self.scaling = scaling
        self.events = events
        self.gossip = gossip

    def registered(self) -> Sequence[str]:
        return self.app.tasks.user_tasks()

    def task_options(self, name: str) -> Mapping[str, Any]:
        task = self.app.tasks.get(name)
        return {key: getattr(task, key, None) for key in _TASK_OPTIONS} if task else {}

    def active(self) -> Sequence[TaskInfo]:
        """``worker_pid`` is the process running the task: a prefork child's pid (None while
        the request waits for a free child), this process's for the solo and threads pools."""
        pids_of = getattr(self.pool, "child_pids", None)
        own = os.getpid()
        return [TaskInfo(request, True, started,
                         next(iter(pids_of(request.task_id)), None) if callable(pids_of) else own)
                for request, started in list(self.consumer.active.values())]

    def reserved(self) -> Sequence[TaskInfo]:
        return [TaskInfo(request) for request in list(self.consumer.backlog)]

    def scheduled(self) -> Sequence[TaskInfo]:
        return [TaskInfo(request, eta=when) for when, request in self.consumer.held()]

    def queues(self) -> Sequence[str]:
        return list(self.consumer.queues)  # as add_consumer/cancel_consumer left them

    def stats(self) -> dict[str, Any]:
        pool: dict[str, Any] = {"implementation": self.pool.name,
                                "max-concurrency": self.pool.concurrency}
        out = {
            "total": dict(self.consumer.processed_by_task),
            "pool": pool,
            "broker": {"url": redact_url(self.app.broker_url)},
            "prefetch_count": self.consumer.window(),
        }
        child_pids = getattr(self.pool, "child_pids", None)
        if callable(child_pids):  # prefork: Celery lists its processes' pids
            pool["processes"] = child_pids()
        autoscaler = self.scaling.autoscaler_info() if self.scaling is not None else None
        if autoscaler is not None:
            out["autoscaler"] = autoscaler
        return out

    def conf(self, with_defaults: bool = False) -> dict[str, Any]:
        """JSON-safe settings with secrets masked (the Settings table knows which are)."""
        out: dict[str, Any] = {}
        table = self.app.conf.table(with_defaults=with_defaults, censored=True)
        for key, value in table.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = repr(value)
            out[key] = value
        return out

    def terminate(self, task_id: str, signum: int) -> bool:
        terminate = getattr(self.pool, "terminate", None)
        if self.events is not None:  # task-revoked will carry the signal
            self.events.terminating(task_id, signum)
        return bool(terminate(task_id, signum)) if callable(terminate) else False

    def set_rate_limit(self, task_name: str, rate: str | None) -> None:
        task = self.app.tasks.get(task_name)
        if task is not None:
            type(task).rate_limit = rate
        self.consumer.rate_limits.set(task_name, rate)

    def set_time_limit(self, task_name: str, soft: float | None, hard: float | None) -> None:
        task = self.app.tasks.get(task_name)
        if task is not None:
            type(task).soft_time_limit = soft
            type(task).time_limit = hard

    def shutdown(self) -> None:
        self._shutdown()

    # -- pool size, restarts and consumed queues (pool_commands.py) ---------------------------
    def _scaling(self) -> Scaling:
        if self.scaling is None:
            raise RuntimeError("this worker cannot change its pool at run time")
        return self.scaling

    def pool_grow(self, n: int) -> None:
        self._scaling().grow(n)

    def pool_shrink(self, n: int) -> None:
        self._scaling().shrink(n)

    def pool_restart(self, modules: Sequence[str] | None, reload: bool) -> None:
        self._scaling().restart(modules, reload)

    def autoscale(self, maximum: int | None, minimum: int | None) -> tuple[int, int]:
        return self._scaling().autoscale(maximum, minimum)

    def add_consumer(self, queue: str, exchange: str | None, exchange_type: str | None,
                     routing_key: str | None, options: Mapping[str, Any]) -> None:
        queue_changes.add_consumer(self.app.conf, self.consumer, queue, exchange,
                                   exchange_type, routing_key, options)

    def cancel_consumer(self, queue: str) -> None:
        queue_changes.cancel_consumer(self.consumer, queue)

    def set_task_events(self, enabled: bool) -> bool | None:
        """Switch ``task-*`` events on or off (``enable_events``/``disable_events``): True
        when that changed something, False when already so, None without events."""
        return self.events.set_task_events(enabled) if self.events is not None else None

    def send_heartbeat(self) -> bool:
        """Send a ``worker-heartbeat`` now (the ``heartbeat`` control command); False when
        this worker sends no worker events."""
        return self.events.send_heartbeat() if self.events is not None else False

    def election(self, id: str, topic: str, action: Any) -> bool:
        """Take part in election ``id`` (the ``election`` control command); False when this
        worker runs no gossip."""
        return self.gossip.election(id, topic, action) if self.gossip is not None else False
