"""Waking an idle consumer of several queues the moment any of them gets a message.

The blocking fetch (``BLMOVE`` into the consumer's inflight list, see ``channel.py``) watches
one list: Redis has no atomic *move* from the first of several lists, and ``BRPOP``/``BLMPOP``
over all of them would hold a popped message only in the client's socket, lost to a SIGKILL
before it is leased. So with ``-Q hipri,celery`` the other queues waited for the next poll.

Here the wait and the taking are separate. The server tells a dedicated connection when a
watched list changes (server-assisted client tracking, Redis 6+: ``CLIENT TRACKING ON
REDIRECT <own id> BCAST PREFIX <queue key>...`` then ``SUBSCRIBE __redis__:invalidate``); the
consumer then runs the fetch script, which leases atomically as always. A notice carries no
message, so none can be lost; any writer's ``LPUSH`` (a Celery client's included) triggers it,
so kombu's layout is unchanged; and no server configuration is needed (unlike keyspace
notifications).

No wake-up is missed, by the order of operations: pending notices are discarded only *before*
a fetch script runs (a write they announce happened before it, so the script sees it), and the
wait follows an empty script run, so a write after it arrives as a new notice. A notice may be
spurious (a pop by a peer, another key under the same prefix): it costs one empty fetch.

A server that refuses tracking (older than 6.0, or an ACL without ``CLIENT``) disables the
watch with one warning; the consumer falls back to the timed poll.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis

from celeriac.transport.redis.keys import KeyLayout

logger = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "__redis__:invalidate"


def non_overlapping(prefixes: Sequence[str]) -> list[str]:
    """The shortest prefixes covering ``prefixes``: Redis refuses overlapping BCAST prefixes
    (``celery`` already covers ``celery2``, which only adds spurious wake-ups)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(other) for other in kept):
            kept.append(prefix)
    return kept


class QueueWatch:
    """One tracking connection announcing writes to keys under ``prefixes``; see the module."""

    def __init__(self, client: redis.Redis, queues: Sequence[str], prefixes: Sequence[str]
                 ) -> None:
        self._pool = client.connection_pool
        self.queues = queues  # what the watch was made for, compared by the channel
        self.prefixes = non_overlapping(prefixes)
        self._conn: Any = None  # redis-py's Connection methods are untyped
        self.unsupported = False

    def before_fetch(self, wait: float | None) -> None:
        """Wait (when asked) for a notice, then drop every notice received so far: the fetch
        script about to run sees the writes they announce."""
        if wait is not None:
            self.wait(wait)
        self.discard_pending()

    def discard_pending(self) -> None:
        """Drop the notices received so far (call right before running the fetch script)."""
        conn = self._connection()
        if conn is None:
            return
        self._guarded(lambda: self._read_all(conn))

    def wait(self, timeout: float) -> None:
        """Return when a watched key changes, or after ``timeout`` s."""
        conn = self._connection()
        if conn is None:
            return
        self._guarded(lambda: conn.can_read(timeout))

    def close(self) -> None:
        """Disconnect (never hand a subscribed connection to others), then give it back to
        the pool, as redis-py's ``PubSub`` does, so the pool's count stays right."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._pool.release(conn)

    def _connection(self) -> Any:
        if self._conn is None and not self.unsupported:
            self._conn = self._guarded(self._arm)
        return self._conn

    def _arm(self) -> Any:
        args: list[Any] = ["BCAST"]
        for prefix in self.prefixes:
            args += ["PREFIX", prefix]
        try:
            conn: Any = self._pool.get_connection()
            self._conn = conn  # so a failure below disconnects and releases it
            conn.send_command("CLIENT", "ID")
            client_id = conn.read_response()
            conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, *args, "NOLOOP")
            conn.read_response()
        except redis.ResponseError as exc:
            self.unsupported = True
            logger.warning("Redis refused client tracking (%s): an idle worker consuming "
                           "several queues notices a message on any but one of them only at "
                           "its next poll (fetch_poll_interval)", exc)
            raise
        conn.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
        conn.read_response(push_request=True)
        return conn

    def _guarded(self, action: Any) -> Any:
        """Run ``action``; on any failure drop the connection (re-armed on next use).

        Connection errors propagate, so the channel's retry-with-backoff handles an outage
        like any other; a refusal (``unsupported``) does not.
        """
        try:
            return action()
        except redis.ResponseError:
            self.close()
            return None
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _read_all(conn: Any) -> None:
        while conn.can_read(0):
            conn.read_response(push_request=True)


class QueueWatches:
    """A channel's watch, made for the queues it fetches from (rebuilt if they change)."""

    def __init__(self, client: redis.Redis, layout: KeyLayout) -> None:
        self._client = client
        self._layout = layout
        self._watch: QueueWatch | None = None

    def of(self, queues: Sequence[str]) -> QueueWatch | None:
        """The watch for ``queues``; None for one queue (it blocks in ``BLMOVE`` instead)
        or when the server refused tracking."""
        if len(queues) < 2:
            return None
        watch = self._watch
        if watch is None or watch.queues != queues:
            self.close()
            watch = self._watch = QueueWatch(self._client, queues,
                                             [self._layout.bucket(queue) for queue in queues])
        return None if watch.unsupported else watch

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


__all__ = ["QueueWatch", "QueueWatches", "non_overlapping"]
