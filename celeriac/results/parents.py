"""``get(follow_parents=True)``: a failed parent's own exception wins over the child's.

Celery's ``AsyncResult.get`` checks the result's parents (root first) before waiting and
after every wait, and re-raises the first failure it finds (``_maybe_reraise_parent_error``).
That is why ``get()`` on a chord whose header task raised ``ValueError`` raises
``ValueError``, not the ``ChordError`` stored on the body, and why the last step of a failed
chain raises the failing step's exception. The same check here, with every parent read in
one ``get_many`` round trip (a ``GroupResult`` parent counts its members, in order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac import states

if TYPE_CHECKING:
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

    leaves = parent_leaves(result)
    if not leaves:
        return
    unread = [leaf for leaf in leaves if leaf._cache is None]
    fetched = dict(zip((leaf.id for leaf in unread),
                       result.backend.get_many([leaf.id for leaf in unread]), strict=True))
    for leaf in leaves:
        meta = leaf._cache or fetched[leaf.id]
        if meta.ready:
            leaf._cache = meta
        if meta.status in states.PROPAGATE_STATES:
            raise exception_from_meta(meta)


__all__ = ["parent_leaves", "reraise_parent_error"]
