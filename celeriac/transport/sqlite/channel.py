"""``SqliteChannel``: the embedded broker's session, with leases that follow a heartbeat.

Every write is one short ``BEGIN IMMEDIATE`` transaction; a batch is one transaction and, for
fetch and ack, one statement (``UPDATE … RETURNING`` and ``DELETE … json_each``).

Leases: a fetched row carries ``lease_owner`` (this channel's id). The lease stays valid while
the owner's row in ``consumers`` is fresh; ``fetch`` and ``heartbeat`` refresh it, so a task
running for hours is never handed to a second worker while its worker lives. ``heartbeat``
also (at most once per ``lease_timeout / 2``, across all processes) returns the rows of owners
silent for ``lease_timeout`` to their queues: that is how a SIGKILLed worker's messages come back.

Waiting without burning CPU: an empty ``fetch`` blocks on the in-process ``Notifier`` (woken by
any publish in this process), and between wake-ups reads ``PRAGMA data_version`` with a backoff
from 5 ms to ``polling_interval`` (default 0.05 s, ``broker_transport_options``). Only when that
counter moves (another process committed) does it probe the queues with a read; only when the
probe finds work does it take the write lock. Delayed messages wake the waiter at their due time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from celeriac.clients.sqlite import FileWakeups, SqliteHandle
from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import DeadLetter, Delivery, Outbound
from celeriac.transport.emulation import ExchangeTable
from celeriac.transport.sqlite import deadletters
from celeriac.transport.sqlite.fanout import SqliteFanout, SqliteSubscription
from celeriac.transport.sqlite.liveness import SqliteLiveness
from celeriac.transport.sqlite.messages import (
    DUE_PROBE,
    INSERT,
    NEXT_DUE,
    PROMOTE,
    deliveries_of,
    lease_statement,
    row_for,
    sort_key,
    tags_json,
)

logger = logging.getLogger(__name__)

_UPSERT_CONSUMER = (
    "INSERT INTO consumers (id, last_seen, pid, hostname) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"
)
_RESTORE = (
    "UPDATE messages SET lease_owner = NULL, leased_at = NULL, redelivered = 1"
    " WHERE lease_owner IS NOT NULL AND leased_at < ?"
    " AND lease_owner NOT IN (SELECT id FROM consumers WHERE last_seen >= ?)"
)
_RELEASE = (
    "UPDATE messages SET lease_owner = NULL, leased_at = NULL, redelivered = 1"
    " WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?"
)
_FIRST_POLL = 0.005


class SqliteChannel:
    """A thread-safe, fork-aware session on one SQLite file. Built by ``SqliteTransport``."""

    def __init__(self, path: str, options: TransportOptions) -> None:
        typed = options.sqlite
        self.options = options
        self._busy_timeout = (typed.busy_timeout if typed.busy_timeout is not None
                              else max(options.connect_timeout, 5.0))
        self._handle = SqliteHandle(
            path, busy_timeout=self._busy_timeout, synchronous=typed.synchronous)
        self._poll_max = typed.polling_interval
        self.exchanges = ExchangeTable(options.task_queues)  # topic/fanout routing (emulation.py)
        self._owner_lock = threading.Lock()
        self._wakeups = FileWakeups(path)
        self._owner_pid = -1
        self._owner_id = ""
        self._fanout = SqliteFanout(self._handle, self._wakeups, typed)
        self.closed = False

    # -- identity ----------------------------------------------------------------------
    @property
    def owner(self) -> str:
        """This channel's lease identity; a forked child gets its own."""
        pid = os.getpid()
        if pid != self._owner_pid:
            with self._owner_lock:  # two threads' first fetches must not mint two identities
                if pid != self._owner_pid:
                    self._owner_id = f"{socket.gethostname()}.{pid}.{uuid.uuid4().hex[:12]}"
                    self._owner_pid = pid
        return self._owner_id

    @property
    def path(self) -> str:
        return self._handle.path

    # -- publishing --------------------------------------------------------------------
    def declare(self, queues: Sequence[str]) -> None:
        """Queues are implicit in SQLite rows; this only opens (and migrates) the file."""
        with self._handle.connection():
            pass

    def publish(self, batch: Sequence[Outbound]) -> None:
        if not batch:
            return
        now = time.time()
        rows = [row_for(outbound, now) for outbound in self.exchanges.expand(batch)]
        with self._handle.transaction() as conn:
            conn.executemany(INSERT, rows)
        self._wakeups().notify()

    # -- consuming ---------------------------------------------------------------------
    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        if limit <= 0 or not queues:
            return []
        deadline = time.monotonic() + max(timeout, 0.0)
        notifier = self._wakeups()
        while True:
            seq = notifier.seq
            version = self._handle.data_version()
            deliveries = self._lease(queues, limit)
            if deliveries or not self._await_work(queues, deadline, seq, version):
                return deliveries

    def _lease(self, queues: Sequence[str], limit: int) -> list[Delivery]:
        now = time.time()
        owner = self.owner
        sql, params = lease_statement(queues, limit)
        with self._handle.transaction() as conn:
            conn.execute(_UPSERT_CONSUMER, (owner, now, os.getpid(), socket.gethostname()))
            conn.executemany(PROMOTE, [(queue, now) for queue in queues])
            rows = conn.execute(sql, [owner, now, *params]).fetchall()
        rows.sort(key=sort_key)
        deliveries, bad = deliveries_of(rows)
        if bad:  # leased already: set aside now, or they would stay leased to a live owner
            with self._handle.transaction() as conn:
                deadletters.set_aside_rows(conn, bad, time.time())
        return deliveries

    def _await_work(self, queues: Sequence[str], deadline: float, seq: int, version: int) -> bool:
        """Block until work may be there (True) or ``deadline`` passes (False)."""
        notifier = self._wakeups()
        ready, next_due = self._probe(queues)
        delay = _FIRST_POLL
        while not ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = min(delay, remaining)
            if next_due is not None:
                wait = min(wait, max(next_due - time.time(), 0.0))
            current_seq = notifier.wait(seq, wait)
            current = self._handle.data_version()
            due = next_due is not None and time.time() >= next_due
            if current_seq != seq or current != version or due:
                # Something committed (here or elsewhere): a read tells if it concerns us.
                seq, version = current_seq, current
                ready, next_due = self._probe(queues)
            delay = min(delay * 2, self._poll_max)
        return True

    def _probe(self, queues: Sequence[str]) -> tuple[bool, float | None]:
        """A read-only look: is something ready, and when is the next delayed message due?"""
        now = time.time()
        next_due: float | None = None
        with self._handle.connection() as conn:
            for queue in queues:
                if conn.execute(DUE_PROBE, (queue,)).fetchone() is not None:
                    return True, None
                due = conn.execute(NEXT_DUE, (queue,)).fetchone()[0]
                if due is not None and (next_due is None or due < next_due):
                    next_due = float(due)
        return (next_due is not None and next_due <= now), next_due

    # -- settling ----------------------------------------------------------------------
    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Delete by id whoever holds the lease now: the task ran, so it must not run again."""
        if not deliveries:
            return
        with self._handle.transaction() as conn:
            conn.execute(
                "DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                (tags_json(deliveries),),
            )

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        if not deliveries:
            return
        if not requeue:
            with self._handle.transaction() as conn:
                deadletters.set_aside(conn, deliveries, "rejected", time.time())
            return
        with self._handle.transaction() as conn:
            conn.execute(_RELEASE, (tags_json(deliveries), self.owner))
        self._wakeups().notify()

    def defer(self, delivery: Delivery, not_before: float) -> None:
        """Release the lease with the row invisible until ``not_before`` (ready now if past)."""
        due = None if not_before <= time.time() else not_before
        with self._handle.transaction() as conn:
            conn.execute(
                "UPDATE messages SET lease_owner = NULL, leased_at = NULL, not_before = ?"
                " WHERE id = ? AND lease_owner = ?",
                (due, int(delivery.tag), self.owner),
            )
        self._wakeups().notify()

    def heartbeat(self) -> int:
        now = time.time()
        timeout = self.options.lease_timeout
        with self._handle.transaction() as conn:
            conn.execute(_UPSERT_CONSUMER, (self.owner, now, os.getpid(), socket.gethostname()))
            row = conn.execute("SELECT value FROM meta WHERE key = 'last_restore'").fetchone()
            if row is not None and now - float(row[0]) < timeout / 2:
                return 0
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('last_restore', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (now,),
            )
            cutoff = now - timeout
            restored = conn.execute(_RESTORE, (cutoff, cutoff)).rowcount
            conn.execute("DELETE FROM consumers WHERE last_seen < ?", (cutoff,))
        if restored:
            logger.warning(
                "Restored %d message(s) leased by consumers silent for over %.1f s (%s)",
                restored,
                timeout,
                self.path,
            )
            self._wakeups().notify()
        return restored

    def liveness_renewer(self) -> SqliteLiveness:
        """What the lease keeper renews: this owner's ``consumers`` row (``liveness.py``)."""
        return SqliteLiveness(self.path, self.owner, self._busy_timeout)

    # -- dead letters ------------------------------------------------------------------
    def set_aside(self, delivery: Delivery, reason: str) -> None:
        with self._handle.transaction() as conn:
            deadletters.set_aside(conn, [delivery], reason, time.time())

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._handle.connection() as conn:
            return deadletters.list_dead(conn, limit)

    def requeue_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        with self._handle.transaction() as conn:
            moved = deadletters.requeue_dead(conn, ids, time.time())
        if moved:
            self._wakeups().notify()
        return moved

    def purge_dead_letters(self) -> int:
        with self._handle.transaction() as conn:
            return int(conn.execute("DELETE FROM dead_letters").rowcount)

    # -- fanout (FanoutChannel: remote control and events; see fanout.py) ------------------
    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        self._fanout.broadcast(exchange, message, routing_key)

    def subscribe(self, exchange: str, pattern: str = "#") -> SqliteSubscription:
        return self._fanout.subscribe(exchange, pattern)

    # -- queue management --------------------------------------------------------------
    def purge(self, queue: str) -> int:
        """Delete the unleased rows of ``queue``, delayed ones included; leased ones stay."""
        with self._handle.transaction() as conn:
            ready = conn.execute(
                "DELETE FROM messages WHERE queue = ? AND lease_owner IS NULL"
                " AND not_before IS NULL",
                (queue,),
            ).rowcount
            delayed = conn.execute(
                "DELETE FROM messages WHERE queue = ? AND not_before IS NOT NULL", (queue,)
            ).rowcount
        return int(ready + delayed)

    def size(self, queue: str) -> int:
        """Unleased rows of ``queue``, delayed ones included (what ``purge`` would delete)."""
        with self._handle.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM messages WHERE queue = ?1 AND lease_owner IS NULL"
                " AND not_before IS NULL) + (SELECT COUNT(*) FROM messages WHERE queue = ?1"
                " AND not_before IS NOT NULL)",
                (queue,),
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Give back this channel's leases at once (nobody can ack them now) and disconnect."""
        if self.closed:
            return
        self.closed = True
        if self._handle.pid == os.getpid() and self._owner_pid == os.getpid():
            try:
                with self._handle.transaction() as conn:
                    released = conn.execute(
                        "UPDATE messages SET lease_owner = NULL, leased_at = NULL,"
                        " redelivered = 1 WHERE lease_owner = ?",
                        (self._owner_id,),
                    ).rowcount
                    conn.execute("DELETE FROM consumers WHERE id = ?", (self._owner_id,))
                if released:
                    self._wakeups().notify()
            except Exception:  # a failing close must not hide the caller's own error
                logger.warning("Could not release leases on close of %s", self.path, exc_info=True)
        self._handle.close()


__all__ = ["SqliteChannel"]
