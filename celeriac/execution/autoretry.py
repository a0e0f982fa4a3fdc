"""``autoretry_for``: the retry a task asks for by raising one of the listed exceptions.

Celery wraps ``run`` (``celery.app.autoretry``); here the runner asks ``autoretry_call`` on
the error path only, so a task that never raises pays nothing. The backoff is Celery's
``get_exponential_backoff_interval``, integer seconds as Celery computes them, so a task
ported from Celery waits the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from celeriac.exceptions import Ignore, Retry

#: Never retried automatically, whatever ``autoretry_for`` says (Celery's rule).
NEVER_AUTORETRIED: tuple[type[BaseException], ...] = (Ignore, Retry)


def exponential_backoff(factor: int, retries: int, maximum: int,
                        full_jitter: bool = False) -> int:
    """Celery's ``get_exponential_backoff_interval``: ``factor * 2**retries`` seconds, at most
    ``maximum``, drawn uniformly in ``[0, that]`` with ``full_jitter``."""
    countdown = int(min(maximum, factor * (2 ** retries)))
    if full_jitter:
        countdown = random.randrange(countdown + 1)
    return max(0, countdown)


def backoff_countdown(task: Any, retries: int) -> int:
    """The countdown of the retry following ``retries`` earlier ones, from the task's
    ``retry_backoff`` (True means factor 1), ``retry_backoff_max`` and ``retry_jitter``."""
    return exponential_backoff(int(max(1.0, float(task.retry_backoff))), retries,
                               int(task.retry_backoff_max), bool(task.retry_jitter))


def wants_autoretry(task: Any, exc: BaseException,
                    autoretry_for: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` is one ``task`` retries by itself (``dont_autoretry_for`` wins)."""
    return (isinstance(exc, autoretry_for)
            and not isinstance(exc, NEVER_AUTORETRIED)
            and not isinstance(exc, tuple(task.dont_autoretry_for)))


def autoretry(task: Any, exc: BaseException) -> None:
    """``task.retry(exc=exc, **retry_kwargs)``, with the backoff's countdown when
    ``retry_backoff`` is set (it overrides a countdown in ``retry_kwargs``, as in Celery)."""
    options: dict[str, Any] = dict(task.retry_kwargs)
    if task.retry_backoff:
        options["countdown"] = backoff_countdown(task, task.request.retries)
    task.retry(exc=exc, **options)


def with_autoretry(task: Any, fun: Callable[..., Any]) -> Callable[..., Any]:
    """``fun`` retrying as ``task.autoretry_for`` says: Celery's wrapped ``run``, for callers
    without a ``TaskRunner`` (``Task.apply``, eager mode). ``fun`` itself without it."""
    autoretry_for = tuple(task.autoretry_for)
    if not autoretry_for:
        return fun

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fun(*args, **kwargs)
        except Exception as exc:
            if wants_autoretry(task, exc, autoretry_for):
                autoretry(task, exc)
            raise

    return run


__all__ = ["NEVER_AUTORETRIED", "autoretry", "backoff_countdown", "exponential_backoff",
           "wants_autoretry", "with_autoretry"]
