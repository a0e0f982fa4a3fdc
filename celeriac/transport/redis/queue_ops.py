"""Whole-queue operations on kombu's layout: every priority bucket plus celeriac's delayed set."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from celeriac.transport.redis.keys import KeyLayout


def purge(client: Redis, layout: KeyLayout, queue: str) -> int:
    """Delete every waiting message of ``queue`` (all buckets and scheduled ones), atomically."""
    pipe = client.pipeline(transaction=True)
    keys = layout.buckets(queue)
    for key in keys:
        pipe.llen(key)
    pipe.zcard(layout.delayed(queue))
    pipe.delete(*keys, layout.delayed(queue))
    return sum(int(n) for n in pipe.execute()[:-1])


def size(client: Redis, layout: KeyLayout, queue: str) -> int:
    """Messages waiting in ``queue``, scheduled ones included (leased ones are not)."""
    pipe = client.pipeline(transaction=False)
    for key in layout.buckets(queue):
        pipe.llen(key)
    pipe.zcard(layout.delayed(queue))
    return sum(int(n) for n in pipe.execute())
