"""Durable revocations on RabbitMQ: a stream queue of revocation records.

``celeriac.control.revocations`` describes the contract (``add``/``version``/``load``) and
opens this store for ``AmqpTransport``. The record of a revoke is one message on the stream
``celeriac.revoked``: a JSON body ``{"revoked": [<task id>, ...], "expires": <epoch s>}``.

Why a stream (RabbitMQ >= 3.9, feature flag ``stream_queue``; enabled on 3.10.8 here):

* A stream is read **without being consumed**: every worker reads the whole log from offset
  ``first``, however many workers there are and whenever they start. A classic queue has
  one reader per message; "browsing" it (get everything unacked, then requeue) makes
  concurrent workers see partial sets and reorders the queue.
* A worker keeps its consumer open and receives new records as they are appended: ``version``
  (called on every worker heartbeat) reads what has arrived without waiting and returns the
  last offset, so a later revoke reaches the running worker's registry within a heartbeat
  even without the broadcast.
* Retention is the broker's: ``x-max-age`` (``MAX_AGE``, one day; a revocation that asks
  for a longer expiry is kept that long only) with small segments
  (``x-stream-max-segment-size-bytes``, 1 MB), since a stream drops whole segments only.
  Expired entries inside the kept segments are skipped by ``load``; at most ``max_entries``
  (Celery's REVOKES_MAX) are returned, the longest-lived first.

A stream has no end marker and ``queue.declare-ok`` reports no message count for it, so a
reader cannot tell when it has read "everything there is". The first ``version``/``load``
therefore appends a *sync* record with a fresh id and reads until it sees that record:
every revocation confirmed before it has then been read. One sync record per worker start
is the price (about 60 bytes).

Measured on this machine (RabbitMQ 3.10.8, localhost, ``.venv/bin/python -m
bench.amqp_revocations``): one ``add`` (a confirmed publish) 0.4 ms; a fresh reader catching up
with 10 000 records 1.3 s, nearly all of it py-amqp decoding frames (0.12 ms per record), so
a worker start pays that for every revoke call of the last ``MAX_AGE``; ``version`` with
nothing new 3 us (a ``select`` on the socket).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

import amqp  # type: ignore[import-untyped]

from celeriac.clients.amqp import AMQP_ERRORS, REFUSALS, AmqpParams, Link
from celeriac.clients.retry import RetryPolicy
from celeriac.exceptions import BrokerRefusedError, OperationalError
from celeriac.transport.amqp.publisher import Publisher
from celeriac.transport.amqp.topology import Declared

logger = logging.getLogger(__name__)

STREAM: Final = "celeriac.revoked"
MAX_AGE: Final = 86400
STREAM_ARGUMENTS: Final = {
    "x-queue-type": "stream",
    "x-max-age": f"{MAX_AGE}s",
    "x-stream-max-segment-size-bytes": 1_000_000,
}
#: Records the broker pushes ahead of our acknowledgements (stream consumers need a window).
PREFETCH: Final = 1000
ACK_EVERY: Final = PREFETCH // 4
SYNC_TIMEOUT: Final = 10.0
_REFUSED: tuple[type[BaseException], ...] = (*REFUSALS, BrokerRefusedError)


def declare_stream(channel: Any) -> None:
    channel.queue_declare(STREAM, durable=True, auto_delete=False, arguments=STREAM_ARGUMENTS)


class AmqpRevocationStore:
    """Revocation records on the stream ``celeriac.revoked`` (module docstring)."""

    def __init__(self, params: AmqpParams, policy: RetryPolicy,
                 max_entries: int = 50000) -> None:
        self.params = params
        self.max_entries = max_entries
        self.publisher = Publisher(params, policy)
        self.reader = Link(params, "revocations", on_open=self._on_open, read_buffer=16384)
        self.lock = threading.Lock()
        self.entries: dict[str, float] = {}
        self.offset = -1
        self._last_tag = 0
        self._synced = False
        self._seen: set[str] = set()
        #: Why the broker refused the stream (no ``stream_queue`` feature, an older
        #: declaration with other arguments, no permission); revocation then works as in
        #: Celery, for running workers only, and this is logged once.
        self.refused: str | None = None

    # -- writing ------------------------------------------------------------------------------
    def add(self, task_ids: Sequence[str], expires: float = 10800.0) -> None:
        if not task_ids or self.refused is not None:
            return
        try:
            self._append({"revoked": list(task_ids), "expires": time.time() + expires})
        except BrokerRefusedError as exc:
            self._refuse(str(exc))

    def _refuse(self, reason: str) -> None:
        self.refused = reason
        logger.warning("Durable revocations unavailable on RabbitMQ (%s): a revoke reaches "
                       "running workers only, as in Celery", reason)

    def _append(self, record: dict[str, Any]) -> None:
        message = amqp.Message(json.dumps(record).encode(), content_type="application/json",
                               content_encoding="utf-8", delivery_mode=2)

        def prepare(channel: Any, declared: Declared) -> None:
            if STREAM not in declared:
                declare_stream(channel)
                declared.add(STREAM)

        self.publisher.publish([("", STREAM, message)], prepare)

    # -- reading ------------------------------------------------------------------------------
    def _on_open(self, channel: Any) -> None:
        declare_stream(channel)
        channel.basic_qos(0, PREFETCH, False)
        start: Any = self.offset + 1 if self.offset >= 0 else "first"
        self._last_tag = 0
        channel.basic_consume(STREAM, callback=self._on_record, no_ack=False,
                              arguments={"x-stream-offset": start})

    def _on_record(self, message: Any) -> None:
        tag = message.delivery_info["delivery_tag"]
        self._last_tag = tag
        if tag % ACK_EVERY == 0:  # keep the window open while catching up
            message.channel.basic_ack(tag, multiple=True)
            self._last_tag = 0
        offset = (message.headers or {}).get("x-stream-offset")
        if isinstance(offset, int):
            self.offset = max(self.offset, offset)
        try:
            record = json.loads(message.body)
        except ValueError:
            logger.warning("Ignoring an unreadable revocation record at offset %s", offset)
            return
        if not isinstance(record, dict):
            return
        if isinstance(record.get("sync"), str):
            self._seen.add(record["sync"])
            return
        expires = record.get("expires")
        ids = record.get("revoked")
        if isinstance(expires, int | float) and isinstance(ids, list):
            for task_id in ids:
                key = str(task_id)
                self.entries[key] = max(float(expires), self.entries.get(key, 0.0))

    def _read(self) -> None:
        """Take what has arrived (lock held) and acknowledge it, so more flows."""
        channel = self.reader.channel()
        self.reader.keep_alive()
        self.reader.drain_ready()
        if self._last_tag:
            channel.basic_ack(self._last_tag, multiple=True)
            self._last_tag = 0

    def _sync(self) -> None:
        """Append a sync record and read up to it (module docstring)."""
        marker = str(uuid.uuid4())
        self._read()  # consuming from 'first' before the marker exists
        self._append({"sync": marker})
        deadline = time.monotonic() + SYNC_TIMEOUT
        while marker not in self._seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationalError(
                    f"Revocations on {self.params.redacted()}: stream {STREAM!r} did not "
                    f"deliver its own sync record within {SYNC_TIMEOUT:.0f} s")
            self.reader.wait_readable(min(left, 0.5))
            self._read()
        self._seen.discard(marker)
        self._synced = True

    def _refresh(self) -> None:
        if self.refused is not None:
            return
        try:
            if self._synced:
                self._read()
            else:
                self._sync()
        except _REFUSED as exc:
            self.reader.reset()
            self._refuse(str(exc))
        except AMQP_ERRORS as exc:
            self.reader.reset()
            raise OperationalError(
                f"Could not read revocations from {self.params.redacted()}: {exc!r}") from exc

    def version(self) -> str:
        with self.lock:
            self._refresh()
            return str(self.offset)

    def load(self) -> dict[str, float]:
        with self.lock:
            self._refresh()
            now = time.time()
            for task_id in [t for t, exp in self.entries.items() if exp <= now]:
                del self.entries[task_id]
            live = sorted(self.entries.items(), key=lambda item: item[1], reverse=True)
            return dict(live[: self.max_entries])

    def close(self) -> None:
        with self.lock:
            self.reader.close()
        self.publisher.close()


__all__ = ["MAX_AGE", "STREAM", "AmqpRevocationStore"]
