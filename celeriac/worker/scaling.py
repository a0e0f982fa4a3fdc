"""What remote control may change in a running worker's pool: its size (``pool_grow``,
``pool_shrink``), the autoscaler's range (``autoscale``) and its processes (``pool_restart``).

The prefetch window follows the pool: it stays ``concurrency x prefetch multiplier`` after
every resize (with ``--autoscale``, ``max x multiplier``, as Celery's consumer can take up to
``max_concurrency`` requests), so a grown pool is fed and a shrunk one does not hoard messages.

Errors are Celery's, raised for the control node to answer as ``{"error": repr(exc)}``: the
solo pool has no ``grow`` (``AttributeError``), ``autoscale`` without ``--autoscale`` and
``pool_restart`` without ``worker_pool_restarts`` are ``ValueError``\\ s with Celery's text.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import Pool, ResizablePool, RestartablePool
from celeriac.worker.autoscale import AUTOSCALE_KEEPALIVE, Autoscaler, autoscaler_class

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer

logger = logging.getLogger(__name__)


class AutoscaleRefused(ValueError):
    """``pool_grow``/``pool_shrink`` while the autoscaler owns the pool's size."""


def _missing_method(method: str) -> AttributeError:
    """Celery's error for a pool without ``method`` (its solo pool's class is ``TaskPool``)."""
    return AttributeError(f"'TaskPool' object has no attribute '{method}'")


def initial_concurrency(concurrency: int, autoscale: tuple[int, int] | None) -> int:
    """The pool's size at start: ``min`` with ``--autoscale`` (at least one), as Celery."""
    return max(1, autoscale[1]) if autoscale else concurrency


class Scaling:
    """The worker's resizable pool, its autoscaler (if any) and the prefetch that follows."""

    def __init__(self, app: Any, pool: Pool, autoscale: tuple[int, int] | None, *,
                 prefetch_for: Callable[[int], int]) -> None:
        """Built with the pool, so a bad ``--autoscale``/``worker_autoscaler`` stops the
        worker before it starts (``ImproperlyConfigured``); ``start`` once consuming."""
        self.app = app
        self.pool = pool
        self.consumer: Consumer | None = None
        self._prefetch_for = prefetch_for
        self.autoscaler: Autoscaler | None = None
        if autoscale:
            if not isinstance(pool, ResizablePool):
                raise ImproperlyConfigured(f"--autoscale needs a pool that can resize "
                                           f"(prefork or threads), not {pool.name}")
            cls = autoscaler_class(app.conf.worker_autoscaler)
            self.autoscaler = cls(pool, autoscale[0], autoscale[1],
                                  demand=self._demand, keepalive=AUTOSCALE_KEEPALIVE)

    def _demand(self) -> int:
        return self.consumer.demand() if self.consumer is not None else 0

    def start(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self._follow()
        if self.autoscaler is not None:
            self.autoscaler.start()

    def stop(self) -> None:
        if self.autoscaler is not None:
            self.autoscaler.stop()

    def _follow(self) -> None:
        """Set the prefetch window from the pool's size (the autoscaler's max if scaling)."""
        size = (self.autoscaler.max_concurrency if self.autoscaler is not None
                else self.pool.concurrency)
        if self.consumer is not None:
            self.consumer.prefetch_limit = max(1, self._prefetch_for(size))

    def _resizable(self, method: str) -> ResizablePool:
        if self.autoscaler is not None:
            raise AutoscaleRefused(f"{method} is not supported with autoscale. "
                                   "Adjust autoscale range instead.")
        if not isinstance(self.pool, ResizablePool):
            raise _missing_method(method.removeprefix("pool_"))
        return self.pool

    def grow(self, n: int) -> None:
        self._resizable("pool_grow").grow(n)
        self._follow()

    def shrink(self, n: int) -> None:
        self._resizable("pool_shrink").shrink(n)
        self._follow()

    def autoscale(self, maximum: int | None, minimum: int | None) -> tuple[int, int]:
        if self.autoscaler is None:
            raise ValueError("Autoscale not enabled")
        bounds = self.autoscaler.update(maximum, minimum)
        self._follow()
        return bounds

    def autoscaler_info(self) -> dict[str, Any] | None:
        return self.autoscaler.info() if self.autoscaler is not None else None

    def restart(self, modules: Iterable[str] | None, reload: bool) -> None:
        """Celery's ``pool_restart``: (re)import ``modules`` here, then replace the pool's
        processes with fresh forks that have them. Refused unless ``worker_pool_restarts``."""
        if not self.app.conf.worker_pool_restarts:
            raise ValueError("Pool restarts not enabled")
        names = (list(self.app.conf.imports or ()) + list(self.app.conf.include or ())
                 if modules is None else list(modules))
        for name in dict.fromkeys(names):
            if name not in sys.modules:
                logger.debug("importing module %s", name)
                importlib.import_module(name)
            elif reload:
                logger.debug("reloading module %s", name)
                importlib.reload(sys.modules[name])
        if isinstance(self.pool, RestartablePool):
            self.pool.restart()


__all__ = ["AutoscaleRefused", "Scaling", "initial_concurrency"]
