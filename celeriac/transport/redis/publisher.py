"""``PUBLISH`` without a round trip per broadcast: replies are read later, in bulk.

A broadcast's reply is only the number of subscribers that got it, which nothing uses. A
worker sending ``-E`` task events publishes a large ``task.multi`` batch every few
milliseconds; waiting for each reply kept its consumer thread idle while Redis read and
routed the batch (about 4% of a trivial task's drain time on the bench). So the publisher
sends each ``PUBLISH`` on a connection of its own and collects the replies that have
arrived before the next send, blocking only when ``MAX_IN_FLIGHT`` are outstanding.

What a caller still learns at once: a connection that cannot be made or written to raises
from ``publish`` (the connection is dropped and made again next time). An error *reply*
(e.g. Redis out of memory) belongs to an earlier broadcast, so it is logged, not raised.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

import redis

logger = logging.getLogger(__name__)

#: Replies left unread before ``publish`` waits for the oldest.
MAX_IN_FLIGHT: Final = 32


def _packed_publish(channel: str, payload: bytes | str) -> list[bytes]:
    """``PUBLISH channel payload`` in RESP, the payload as its own chunk: a batch of events is
    ~200 KB, which redis-py's packer would copy once more into one buffer."""
    name = channel.encode()
    body = payload.encode() if isinstance(payload, str) else payload
    return [b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n" % (len(name), name, len(body)),
            body, b"\r\n"]


class PipelinedPublisher:
    """``PUBLISH`` on a dedicated connection of ``client``'s pool; thread-safe."""

    def __init__(self, client: Any) -> None:
        self._pool = client.connection_pool
        self._conn: Any = None
        self._in_flight = 0
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: bytes | str) -> None:
        """Send ``PUBLISH channel payload``; its reply is read by a later call.

        A kept connection found broken before anything is written to it (Redis restarted
        since the last broadcast) is replaced at once, so the broadcast still goes out; a
        failure while writing raises (resending could deliver it twice).
        """
        with self._lock:
            conn = self._conn
            if conn is not None:
                try:
                    self._collect(conn, wait=self._in_flight >= MAX_IN_FLIGHT)
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    logger.debug("The broadcast connection broke (%s); reconnecting", exc)
                    self._drop()
                    conn = None
            try:
                if conn is None:
                    conn = self._conn = self._pool.get_connection()
                conn.send_packed_command(_packed_publish(channel, payload), check_health=False)
            except BaseException:
                self._drop()
                raise
            self._in_flight += 1

    @property
    def in_flight(self) -> int:
        """Replies not read yet."""
        return self._in_flight

    def _collect(self, conn: Any, *, wait: bool) -> None:
        """Read the replies that have arrived (and, with ``wait``, at least one).

        Something to read with no reply outstanding means the server closed the connection
        (as redis-py's pool checks before lending one): raise, rather than write into it.
        """
        while wait or conn.can_read(timeout=0):
            if not self._in_flight:
                raise redis.ConnectionError("the broadcast connection was closed by the server")
            wait = False
            try:
                conn.read_response()
            except redis.ResponseError as exc:
                logger.warning("Redis refused a broadcast: %s", exc)
            finally:
                self._in_flight -= 1

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._in_flight = 0
        if conn is not None:
            conn.disconnect()
            self._pool.release(conn)

    def close(self) -> None:
        """Read what is outstanding (so every sent broadcast reached Redis), then release."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                while self._in_flight:
                    self._collect(conn, wait=True)
            except redis.RedisError as exc:
                logger.debug("Closing the broadcast connection: %s", exc)
                self._drop()
                return
            self._conn = None
            self._pool.release(conn)


__all__ = ["MAX_IN_FLIGHT", "PipelinedPublisher"]
