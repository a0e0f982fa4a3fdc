"""``get(follow_parents=True)``: a failed parent's own exception wins over the child's.

Celery's ``AsyncResult.get`` checks the result's parents (root first) before waiting and
after every wait, and re-raises the first failure it finds (``_maybe_reraise_parent_error``).
That is why ``get()`` on a chord whose header task raised ``ValueError`` raises
``ValueError``, not the ``ChordError`` stored on the body, and why the last step of a failed
chain raises the failing step's exception, and a chain whose step was revoked (nothing
fails the later steps then) raises ``TaskRevokedError`` instead of waiting forever. Here the
check runs before waiting, every ``PARENT_CHECK_INTERVAL`` seconds while waiting, and once the
result itself has failed, reading the parents with ``get_many`` (``BATCH`` ids a round trip;
a ``GroupResult`` parent counts as its members, in order) and caching the ready ones.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from celeriac import states
from celeriac.exceptions import TimeoutError

if TYPE_CHECKING:
    from celeriac.protocol.result_meta import ResultMeta
    from celeriac.results.async_result import AsyncResult


#: Seconds between checks of the parents while waiting (Celery's drain interval).
PARENT_CHECK_INTERVAL: Final = 1.0


def _leaves(node: Any) -> list[AsyncResult]:
    members = getattr(node, "results", None)
    if members is None:
        return [node]
    out: list[AsyncResult] = []
    for member in members:
        out.extend(_leaves(member))
    return out


def parent_leaves(result: Any) -> list[AsyncResult]:
    """The results above ``result``, root first, groups spread into their members."""
    chain: list[Any] = []
    node, seen = getattr(result, "parent", None), set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        chain.append(node)
        node = getattr(node, "parent", None)
    leaves: list[AsyncResult] = []
    for node in reversed(chain):
        leaves.extend(_leaves(node))
    return leaves


def reraise_parent_error(result: AsyncResult) -> None:
    """Raise the exception of the first failed parent of ``result`` (root first), if any."""
    from celeriac.results.async_result import exception_from_meta
    from celeriac.results.group_result import BATCH

    leaves = parent_leaves(result)
    if not leaves:
        return
    unread = [leaf.id for leaf in leaves if leaf._cache is None]
    fetched: dict[str, ResultMeta] = {}
    for start in range(0, len(unread), BATCH):
        ids = unread[start:start + BATCH]
        fetched.update(zip(ids, result.backend.get_many(ids), strict=True))
    for leaf in leaves:
        meta = leaf._cache or fetched[leaf.id]
        if meta.ready:
            leaf._cache = meta
        if meta.status in states.PROPAGATE_STATES:
            raise exception_from_meta(meta)



def wait_following_parents(result: AsyncResult, timeout: float | None,
                           interval: float) -> ResultMeta:
    """``backend.wait`` for ``result``, raising a parent's failure as soon as it is seen.

    Raises:
        celeriac.exceptions.TimeoutError: not ready within ``timeout`` seconds.
        BaseException: the first failed parent's exception (see the module docstring).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        reraise_parent_error(result)
        step = PARENT_CHECK_INTERVAL
        if deadline is not None:
            step = min(step, max(deadline - time.monotonic(), 0.0))
        try:
            return result.backend.wait(result.id, timeout=step, interval=interval)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise


__all__ = ["PARENT_CHECK_INTERVAL", "parent_leaves", "reraise_parent_error",
           "wait_following_parents"]
