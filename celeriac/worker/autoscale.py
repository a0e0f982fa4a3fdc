"""The autoscaler: ``--autoscale max,min`` grows the pool under load and shrinks it when idle.

Celery's rules (``celery.worker.autoscale.Autoscaler``), checked once a second on the
``celeriac-autoscaler`` thread:

* more requests than processes (running or waiting for a slot; Celery counts its reserved
  requests): grow to ``min(requests, max)`` at once;
* fewer: shrink towards ``max(requests, min)``, but only after ``keepalive`` seconds without
  a scale-up or any work (``AUTOSCALE_KEEPALIVE`` in the environment, 30 s by default, as
  Celery); the pool retires idle processes first and never interrupts a running task.

The pool always keeps one process: ``--autoscale 10,0`` shrinks to one, not to none (Celery's
prefork pool can drop to zero processes; celeriac's pools cannot run empty).

``update`` is the ``autoscale`` remote-control command; ``info`` is what ``inspect stats``
shows under ``autoscaler``. ``worker_autoscaler`` may name a subclass of ``Autoscaler``.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import ResizablePool

logger = logging.getLogger(__name__)

AUTOSCALE_KEEPALIVE = float(os.environ.get("AUTOSCALE_KEEPALIVE", 30))

#: ``worker_autoscaler`` values meaning this module's ``Autoscaler`` (Celery's default names
#: Celery's class, which is this one's model).
DEFAULT_AUTOSCALERS = frozenset({"celery.worker.autoscale:Autoscaler",
                                 "celery.worker.autoscale.Autoscaler",
                                 "celeriac.worker.autoscale:Autoscaler",
                                 "celeriac.worker.autoscale.Autoscaler"})


def parse_autoscale(value: str) -> tuple[int, int]:
    """``"10,3"`` -> ``(10, 3)``; ``"10"`` -> ``(10, 0)``, as Celery's ``--autoscale``."""
    max_text, _, min_text = value.partition(",")
    try:
        maximum, minimum = int(max_text), int(min_text) if min_text.strip() else 0
    except ValueError:
        raise ValueError(f"--autoscale takes MAX[,MIN] (numbers), not {value!r}") from None
    if maximum < 1 or minimum < 0 or minimum > maximum:
        raise ValueError(f"--autoscale {value!r}: need MAX >= MIN >= 0 and MAX >= 1")
    return maximum, minimum


class Autoscaler:
    """Resizes ``pool`` between ``min_concurrency`` and ``max_concurrency``; see the module."""

    def __init__(self, pool: ResizablePool, max_concurrency: int, min_concurrency: int = 0, *,
                 demand: Callable[[], int], keepalive: float = AUTOSCALE_KEEPALIVE,
                 interval: float = 1.0) -> None:
        if keepalive <= 0:
            raise ImproperlyConfigured("AUTOSCALE_KEEPALIVE must be positive: cannot scale "
                                       "down that fast")
        self.pool = pool
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.keepalive = keepalive
        self.interval = interval
        self._demand = demand
        self.mutex = threading.Lock()
        self._last_active: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def processes(self) -> int:
        return self.pool.concurrency

    @property
    def qty(self) -> int:
        return self._demand()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="celeriac-autoscaler",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.mutex:
                    self.maybe_scale()
            except Exception:
                logger.exception("Autoscaler error (continuing)")

    def maybe_scale(self) -> bool:
        """One check (under ``mutex``); True when it resized the pool."""
        procs, qty = self.processes, self.qty
        if qty:
            self._last_active = time.monotonic()
        wanted = min(qty, self.max_concurrency)
        if wanted > procs:
            self._grow(wanted - procs)
            return True
        wanted = max(qty, self.min_concurrency, 1)
        if wanted < procs:
            return self.scale_down(procs - wanted)
        return False

    def scale_down(self, n: int) -> bool:
        last = self._last_active
        if last is None or time.monotonic() - last > self.keepalive:
            return self._shrink(n)
        return False

    def update(self, maximum: int | None = None, minimum: int | None = None) -> tuple[int, int]:
        """The ``autoscale`` command: new bounds, applied to the pool at once."""
        with self.mutex:
            if maximum is not None:
                if maximum < 1:
                    raise ValueError(f"autoscale max must be at least 1, not {maximum}")
                if maximum < self.processes:
                    self._shrink(self.processes - maximum)
                self.max_concurrency = maximum
            if minimum is not None:
                if minimum > self.processes:
                    self._grow(minimum - self.processes)
                self.min_concurrency = minimum
            return self.max_concurrency, self.min_concurrency

    def _grow(self, n: int) -> None:
        logger.info("Scaling up %s processes.", n)
        self._last_active = time.monotonic()
        self.pool.grow(n)

    def _shrink(self, n: int) -> bool:
        n = min(n, self.processes - 1)
        if n < 1:
            return False
        logger.info("Scaling down %s processes.", n)
        try:
            self.pool.shrink(n)
        except ValueError as exc:
            logger.debug("Autoscaler won't scale down: %s", exc)
            return False
        return True

    def info(self) -> dict[str, Any]:
        """``inspect stats``' ``autoscaler`` entry, with Celery's keys."""
        return {"max": self.max_concurrency, "min": self.min_concurrency,
                "current": self.processes, "qty": self.qty}


def autoscaler_class(setting: Any) -> type[Autoscaler]:
    """The class ``worker_autoscaler`` names: Celery's default means ``Autoscaler``; anything
    else must be (or name, as ``module:Class``) a subclass of it."""
    if setting is None or (isinstance(setting, str) and setting in DEFAULT_AUTOSCALERS):
        return Autoscaler
    cls = setting
    if isinstance(setting, str):
        module, _, name = setting.replace(":", ".").rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ImproperlyConfigured(f"worker_autoscaler {setting!r} cannot be imported: "
                                       f"{exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Autoscaler)):
        raise ImproperlyConfigured(f"worker_autoscaler {setting!r} is not a subclass of "
                                   "celeriac.worker.autoscale.Autoscaler")
    return cls


__all__ = ["AUTOSCALE_KEEPALIVE", "Autoscaler", "autoscaler_class", "parse_autoscale"]
