"""Runs the bootsteps users add with ``app.steps['worker']`` and ``app.steps['consumer']``.

Worker steps are bound when the worker is made (Celery binds them as the WorkController
is built) and started after set-up, before the first task is fetched; consumer steps are
bound and started just after them, with a parent shaped like Celery's consumer. At shutdown
consumer steps stop first, then worker steps, both before the broker channel closes; then
the loader's ``on_worker_shutdown`` hook runs (``on_worker_init`` ran in the worker's set-up).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celeriac.bootsteps import Blueprint, ChannelSource

if TYPE_CHECKING:
    from celeriac.worker.worker import Worker

logger = logging.getLogger(__name__)


@dataclass
class ConsumerParent:
    """``c`` in a consumer step's methods: the parts of Celery's consumer steps use."""

    app: Any
    hostname: str
    controller: Worker
    connection: ChannelSource
    pool: Any
    steps: list[Any] = field(default_factory=list)


class UserSteps:
    """The user's worker and consumer blueprints for one worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        steps = getattr(worker.app, "steps", None) or {}
        self.worker_blueprint = Blueprint(steps.get("worker", ()), name="Worker")
        self.consumer_blueprint = Blueprint(steps.get("consumer", ()), name="Consumer")
        self.consumer_parent: ConsumerParent | None = None
        self.worker_blueprint.apply(worker, **self.step_kwargs())

    def step_kwargs(self) -> dict[str, Any]:
        """What a step's ``__init__(parent, **kwargs)`` gets, as in Celery: the worker's
        options, and the values of the command-line options in ``app.user_options``."""
        options = self.worker.options
        values = {name: getattr(options, name) for name in options.__dataclass_fields__
                  if name != "user_options"}
        return {**values, **options.user_options}

    def start(self) -> None:
        """Start the steps; one that fails stops the worker with status 1, as Celery's
        "Unrecoverable error" does (the worker's own threads then shut down cleanly)."""
        try:
            self._start()
        except Exception:
            logger.critical("Unrecoverable error starting a bootstep; stopping the worker",
                            exc_info=True)
            self.worker._exit_code = 1
            self.worker.stop()

    def _start(self) -> None:
        worker = self.worker
        self.worker_blueprint.start(worker)
        if self.consumer_blueprint.types:
            self.consumer_parent = parent = ConsumerParent(
                worker.app, worker.hostname, worker, ChannelSource(worker.app.transport),
                worker.pool)
            self.consumer_blueprint.apply(parent, **self.step_kwargs())
            parent.steps = list(self.consumer_blueprint.steps)
            self.consumer_blueprint.start(parent)

    def stop(self) -> None:
        """Stop consumer steps, then worker steps, then call ``loader.on_worker_shutdown``."""
        if self.consumer_parent is not None:
            self.consumer_blueprint.stop(self.consumer_parent)
        self.worker_blueprint.stop(self.worker)
        self.worker.app.loader.shutdown_worker()


__all__ = ["ConsumerParent", "UserSteps"]
