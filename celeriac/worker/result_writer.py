"""Storing results before their messages are settled, through result-store outages.

A message is acknowledged only once its result is stored: acknowledging first loses the
result for good when the store is down (``get()`` then waits forever). So a batch of records
that cannot be stored is either kept for a later attempt, its messages still leased (the
consumer counts them as held, so a worker facing a dead store stops fetching new work), or,
when no retry is left, its messages are handed back to the broker to run again.

Retries follow Celery's ``result_backend_*`` settings (:class:`StoreRetryPolicy`), with one
difference: Celery sleeps between attempts inside the task; the consumer must keep running
(completions, heartbeats, a warm shutdown), so a batch waiting for its next attempt is parked
with a due time and retried from the consumer's loop instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from celeriac.backends.base import ResultBackend
from celeriac.config.frozen import StoreRetryPolicy
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.result_meta import ResultMeta

logger = logging.getLogger(__name__)

Record = tuple[TaskMessage, ResultMeta]


@dataclass(slots=True)
class PendingBatch:
    """Records to store, and what to do with their messages once stored or given up on."""

    records: Sequence[Record]
    #: Messages this batch keeps leased until settled (counted in the consumer's window).
    messages: int
    settle: Callable[[], None]
    hand_back: Callable[[], None]
    retries: int = 0
    due: float = 0.0


class ResultWriter:
    """Stores batches of results with Celery's retry policy; never settles an unstored one."""

    def __init__(self, backend: ResultBackend | None,
                 policy: StoreRetryPolicy | None = None) -> None:
        self.backend = backend
        self.policy = policy or StoreRetryPolicy()
        self._store_replies = getattr(backend, "store_replies", None)
        self._parked: list[PendingBatch] = []
        #: Messages of parked batches, still leased: part of the consumer's ``reserved()``.
        self.parked_messages = 0

    def submit(self, batch: PendingBatch, *, final: bool = False) -> None:
        """Store ``batch`` now and settle it; on failure park it or hand it back (always
        hand it back when ``final``: nothing will retry after a shutdown)."""
        if not batch.records or self.backend is None:
            batch.settle()
            return
        self._attempt(batch, final=final)

    def retry_due(self, *, final: bool = False) -> None:
        """Attempt the parked batches whose time has come; ``final`` (shutdown): every parked
        batch gets one last attempt, and what still fails goes back to the broker."""
        if not self._parked:
            return
        now = time.monotonic()
        due = [b for b in self._parked if final or b.due <= now]
        if not due:
            return
        self._parked = [b for b in self._parked if not (final or b.due <= now)]
        for batch in due:
            self.parked_messages -= batch.messages
            self._attempt(batch, final=final)

    def next_due(self) -> float | None:
        """``time.monotonic()`` of the next parked attempt, or None."""
        return min((b.due for b in self._parked), default=None)

    def _attempt(self, batch: PendingBatch, *, final: bool = False) -> None:
        try:
            self._store(batch.records)
        except Exception as exc:
            self._failed(batch, exc, final)
            return
        if batch.retries:
            logger.warning("Stored %d result(s) after %d retr%s", len(batch.records),
                           batch.retries, "y" if batch.retries == 1 else "ies")
        batch.settle()

    def _failed(self, batch: PendingBatch, exc: Exception, final: bool) -> None:
        if not final and self.policy.may_retry(exc, batch.retries):
            batch.retries += 1
            delay = self.policy.delay(batch.retries)
            batch.due = time.monotonic() + delay
            self._parked.append(batch)
            self.parked_messages += batch.messages
            logger.warning("Could not store %d result(s) (%s); retry %d in %.3fs, their "
                           "messages stay unacknowledged meanwhile", len(batch.records), exc,
                           batch.retries, delay)
            return
        why = ("shutting down" if final else
               "retries used up" if batch.retries else
               "result_backend_always_retry is off" if not self.policy.always_retry else
               "not a recoverable error")
        logger.error("Could not store %d result(s) (%s; %s): their messages go back to the "
                     "broker, the tasks will run again", len(batch.records), exc, why)
        batch.hand_back()

    def _store(self, records: Sequence[Record]) -> None:
        """One round trip for the batch; ``rpc://`` gets each message's ``reply_to``."""
        if self._store_replies is not None:
            self._store_replies([(str(message.properties.get("reply_to") or ""), meta)
                                 for message, meta in records])
        else:
            assert self.backend is not None
            self.backend.store([meta for _, meta in records])


__all__ = ["PendingBatch", "ResultWriter"]
