"""Waiting for one result with Celery's hooks: ``on_interval`` and ``on_message``.

Without hooks ``AsyncResult.get`` hands the whole wait to the store (``ResultBackend.wait``:
a Redis notification, an rpc reply, or polling). With a hook the caller must run between
reads, so the record is read here, with the same backoff as ``poll_until_ready`` (5 ms up to
``interval``); ``on_interval`` runs once per ``interval`` of waiting, as on Celery's polling
stores (a failed parent is looked for at that pace). ``on_message`` receives each state the
wait sees, as Celery's dict (the exception instance for a failure), the final one included; a
state that comes and goes between two reads (a quick ``update_state``) is not seen, as with
any polling store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import TimeoutError

if TYPE_CHECKING:
    from celeriac.backends.base import ResultBackend
    from celeriac.protocol.result_meta import ResultMeta


def wait_with_hooks(backend: ResultBackend, task_id: str, timeout: float | None,
                    interval: float, on_interval: Callable[[], Any] | None,
                    on_message: Callable[[dict[str, Any]], Any] | None,
                    to_dict: Callable[[ResultMeta], dict[str, Any]]) -> ResultMeta:
    """Read ``task_id`` until it is ready, calling the hooks between reads.

    Raises:
        celeriac.exceptions.TimeoutError: not ready within ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    seen: tuple[str, Any] | None = None
    last_tick = time.monotonic()
    while True:
        meta = backend.get(task_id)
        if on_message is not None and meta.status != states.PENDING \
                and (meta.status, meta.result) != seen:
            seen = (meta.status, meta.result)
            on_message(to_dict(meta))
        if meta.ready:
            return meta
        now = time.monotonic()
        if on_interval is not None and now - last_tick >= interval:
            last_tick = now
            on_interval()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("The operation timed out.")
            delay = min(delay, remaining)
        time.sleep(delay)
        delay = min(delay * 2, interval)


__all__ = ["wait_with_hooks"]
