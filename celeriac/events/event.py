"""Celery's event dicts: the common fields every event carries, and what each type adds.

wire-protocol.md §6.2. Every event has ``hostname``, ``utcoffset`` (hours *west* of UTC, a
float as Celery 5.7 sends it), ``pid``, ``clock`` (Lamport), then its own fields, then
``timestamp`` (epoch seconds) and ``type``, in that order (Celery's, so captures compare
equal). The routing key is the type with ``-`` turned into ``.``.

Types and their own fields, as Celery's worker and client send them:

* ``task-sent``: uuid, root_id, parent_id, name, args, kwargs (the ``argsrepr`` and
  ``kwargsrepr`` strings), retries, eta, expires, queue, exchange, routing_key;
* ``task-received``: uuid, name, args, kwargs, root_id, parent_id, retries, eta, expires;
* ``task-started``: uuid; ``task-succeeded``: uuid, result (a repr string), runtime;
* ``task-failed`` and ``task-retried``: uuid, exception (a repr string), traceback;
* ``task-revoked``: uuid, terminated, signum, expired; ``task-rejected``: uuid, requeue;
* ``worker-online``/``-heartbeat``/``-offline``: freq, active, processed, loadavg,
  sw_ident, sw_ver, sw_sys.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from functools import cache
from importlib import metadata
from typing import Any, Final

#: Who sent a worker event, as ``sw_ident``/``sw_ver``/``sw_sys``. Monitors display these and
#: compare none of them (Flower and Celery's ``State`` keep them as strings).
SW_IDENT: Final = "py-celeriac"
SW_SYS: Final = platform.system()

TASK_GROUP: Final = "task"
WORKER_GROUP: Final = "worker"


def software_info() -> dict[str, str]:
    """``sw_ident``, ``sw_ver``, ``sw_sys`` for worker events."""
    return {"sw_ident": SW_IDENT, "sw_ver": _version(), "sw_sys": SW_SYS}


@cache
def _version() -> str:
    # Not ``celeriac.__version__``: the package facade imports the app, a layer above this.
    try:
        return metadata.version("celeriac")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def utcoffset() -> float:
    """Hours west of UTC now (DST included), a float as Celery 5.7 sends it."""
    if time.localtime().tm_isdst:
        return time.altzone / 3600
    return time.timezone / 3600


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load, rounded up to 2 decimals as Celery does; zeros where the
    platform has none."""
    try:
        loads = os.getloadavg()
    except (AttributeError, OSError):
        return [0.0, 0.0, 0.0]
    return [math.ceil(value * 1e2) / 1e2 for value in loads]


def group_of(type_: str) -> str:
    """``task`` for ``task-sent``, ``worker`` for ``worker-heartbeat``: what ``groups`` filter."""
    return type_.partition("-")[0]


def routing_key_of(type_: str) -> str:
    """The routing key of an event type: ``task-sent`` → ``task.sent``."""
    return type_.replace("-", ".")


def event(type_: str, hostname: str, pid: int, clock: int | None, offset: float,
          fields: Mapping[str, Any], now: Callable[[], float] = time.time) -> dict[str, Any]:
    """One event dict, keys in Celery's order; ``fields`` may carry its own ``timestamp``."""
    if "timestamp" in fields:
        return {"hostname": hostname, "utcoffset": offset, "pid": pid, "clock": clock,
                **fields, "type": type_}
    return {"hostname": hostname, "utcoffset": offset, "pid": pid, "clock": clock, **fields,
            "timestamp": now(), "type": type_}


__all__ = [
    "SW_IDENT",
    "TASK_GROUP",
    "WORKER_GROUP",
    "event",
    "group_of",
    "load_average",
    "routing_key_of",
    "software_info",
    "utcoffset",
]
