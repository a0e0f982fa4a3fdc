"""One worker as a monitor sees it through its events (Celery's ``celery.events.state.Worker``).

A worker is *alive* while its last heartbeat is younger than twice its announced heartbeat
period (``freq``, 2 s by default): Celery's rule, which tolerates one lost heartbeat. A
``worker-offline`` event forgets the heartbeats, so the worker is offline at once instead of
after the window runs out.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)

#: How far past its period (in percent of ``freq``) a heartbeat may be late before the
#: worker counts as offline (Celery's ``HEARTBEAT_EXPIRE_WINDOW``).
HEARTBEAT_EXPIRE_WINDOW = 200

#: Seconds between an event's timestamp and its arrival above which clocks look out of sync.
HEARTBEAT_DRIFT_MAX = 16

_warned_drift: set[str] = set()


def heartbeat_expires(timestamp: float, freq: float = 60,
                      expire_window: float = HEARTBEAT_EXPIRE_WINDOW) -> float:
    """When a heartbeat received at ``timestamp`` stops vouching for its worker."""
    return float(timestamp) + float(freq) * (expire_window / 1e2)


def _warn_drift(hostname: str | None, drift: float, local_received: float,
                timestamp: float) -> None:
    """Say once per host that its clock and ours disagree (events are then misordered)."""
    key = str(hostname)
    if key in _warned_drift:
        return
    _warned_drift.add(key)
    logger.warning(
        "Substantial drift from %s may mean clocks are out of sync.  Current drift is %s "
        "seconds.  [orig: %s recv: %s]", hostname, drift,
        datetime.fromtimestamp(local_received), datetime.fromtimestamp(timestamp))


class Worker:
    """A worker's last reported fields and its recent heartbeats (arrival times)."""

    heartbeat_max = 4
    expire_window = HEARTBEAT_EXPIRE_WINDOW

    _fields = ("hostname", "pid", "freq", "heartbeats", "clock", "active", "processed",
               "loadavg", "sw_ident", "sw_ver", "sw_sys")

    def __init__(self, hostname: str | None = None, pid: int | None = None,
                 freq: float = 60, heartbeats: list[float] | None = None, clock: int = 0,
                 active: int | None = None, processed: int | None = None,
                 loadavg: list[float] | None = None, sw_ident: str | None = None,
                 sw_ver: str | None = None, sw_sys: str | None = None) -> None:
        self.hostname = hostname
        self.pid = pid
        self.freq = freq
        self.heartbeats: list[float] = [] if heartbeats is None else heartbeats
        self.clock = clock or 0
        self.active = active
        self.processed = processed
        self.loadavg = loadavg
        self.sw_ident = sw_ident
        self.sw_ver = sw_ver
        self.sw_sys = sw_sys

    def event(self, type_: str | None, timestamp: float | None = None,
              local_received: float | None = None,
              fields: Mapping[str, Any] | None = None) -> None:
        """Apply one ``worker-<type_>`` event (``type_`` None: a task event from this worker).

        Every field of the event becomes an attribute; ``offline`` clears the heartbeats,
        anything else records when it arrived (the last ``heartbeat_max`` arrivals are kept,
        sorted, so a late event does not displace a newer one).
        """
        for key, value in (fields or {}).items():
            setattr(self, key, value)
        if type_ == "offline":
            self.heartbeats[:] = []
            return
        if not local_received or not timestamp:
            return
        drift = abs(int(local_received) - int(timestamp))
        if drift > HEARTBEAT_DRIFT_MAX:
            _warn_drift(self.hostname, drift, local_received, timestamp)
        heartbeats = self.heartbeats
        if len(heartbeats) > self.heartbeat_max - 1:
            heartbeats.pop(0)
        if heartbeats and local_received > heartbeats[-1]:
            heartbeats.append(local_received)
        else:
            bisect.insort(heartbeats, local_received)

    def update(self, fields: Mapping[str, Any], **extra: Any) -> None:
        for key, value in {**fields, **extra}.items():
            setattr(self, key, value)

    @property
    def heartbeat_expires(self) -> float:
        # float(): some JSON decoders hand Decimals, which do not add to floats.
        return heartbeat_expires(float(self.heartbeats[-1]), float(self.freq),
                                 self.expire_window)

    @property
    def alive(self) -> bool:
        """Whether a heartbeat came within the last ``freq * expire_window / 100`` seconds."""
        return bool(self.heartbeats and time.time() < self.heartbeat_expires)

    @property
    def status_string(self) -> str:
        return "ONLINE" if self.alive else "OFFLINE"

    @property
    def id(self) -> str:
        return f"{self.hostname}.{self.pid}"

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key, None) for key in self._fields}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Worker):
            return self.hostname == other.hostname
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.hostname)

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, tuple(getattr(self, key) for key in self._fields)

    def __repr__(self) -> str:
        return f"<Worker: {self.hostname} ({self.status_string} clock:{self.clock})"


__all__ = ["HEARTBEAT_DRIFT_MAX", "HEARTBEAT_EXPIRE_WINDOW", "Worker", "heartbeat_expires"]
