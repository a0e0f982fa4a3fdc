"""Per-task rate limits (``rate_limit='10/s' | '100/m' | '1000/h'``), per worker, as in Celery.

A token bucket per task name; a request that finds its bucket empty is held on the worker's
timer until a token is due, so rate-limited tasks wait without blocking any other task.
Limits can change at run time (``app.control.rate_limit``).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Final

from celeriac.exceptions import ImproperlyConfigured

_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(?P<count>\d+(?:\.\d+)?)\s*(?:/\s*(?P<unit>[smh]))?\s*$")


def parse_rate(rate: str | float | int | None) -> float | None:
    """Tasks per second for ``rate``; None (or 0) means unlimited.

    Raises:
        ImproperlyConfigured: not a number or ``N/s``, ``N/m``, ``N/h``.
    """
    if rate is None or rate == "":
        return None
    if isinstance(rate, int | float):
        return float(rate) or None
    match = _RATE.match(rate)
    if match is None:
        raise ImproperlyConfigured(
            f"Invalid rate limit {rate!r}: use a number of tasks per second or 'N/s', 'N/m', 'N/h'"
        )
    per_second = float(match["count"]) / _UNITS[match["unit"] or "s"]
    return per_second or None


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity`` (bursts up to it)."""

    def __init__(self, rate: float, capacity: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self) -> float:
        """Take a token; return 0 on success, else the seconds until one is available."""
        now = time.monotonic()
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class RateLimits:
    """The buckets of one worker, keyed by task name; safe to change from another thread."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def set(self, task_name: str, rate: str | float | None) -> None:
        per_second = parse_rate(rate)
        with self._lock:
            if per_second is None:
                self._buckets.pop(task_name, None)
            else:
                self._buckets[task_name] = TokenBucket(per_second)

    def delay_for(self, task_name: str) -> float:
        """0 when ``task_name`` may start now (a token is taken), else seconds to wait."""
        if not self._buckets:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(task_name)
            return 0.0 if bucket is None else bucket.take()


def app_rate_limits(app: Any) -> RateLimits:
    """The limits of ``app``'s tasks (their ``rate_limit``, else ``task_default_rate_limit``);
    none with ``worker_disable_rate_limits``."""
    limits = RateLimits()
    if app.conf.worker_disable_rate_limits:
        return limits
    default = app.conf.task_default_rate_limit
    for name, task in app.tasks.items():
        rate = task.rate_limit or default
        if rate:
            limits.set(name, rate)
    return limits
