"""``get(follow_parents=True)``: a failed parent's own exception wins over the child's.

Celery's ``AsyncResult.get`` checks the result's parents (root first) before waiting and
after every wait, and re-raises the first failure it finds (``_maybe_reraise_parent_error``).
That is why ``get()`` on a chord whose header task raised ``ValueError`` raises
``ValueError``, not the ``ChordError`` stored on the body, and why the last step of a failed
chain raises the failing step's exception. Here the check runs before waiting and once the
result itself has failed (a failure always ends the wait: the worker fails a chain's later
steps and a chord's body), reading the parents with ``get_many`` (``BATCH`` ids a round trip;
a ``GroupResult`` parent counts as its members, in order) and caching the ready ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac import states

if TYPE_CHECKING:
    from celeriac.protocol.result_meta import ResultMeta
    from celeriac.results.async_result import AsyncResult


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


__all__ = ["parent_leaves", "reraise_parent_error"]
