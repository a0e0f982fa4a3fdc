"""The beat lease: at most one beat per broker sends, and a standby takes over when it dies.

Celery has nothing for this; running two ``celery beat`` (or two ``worker -B``) sends every
periodic task twice. celeriac's beats compete for a *lease* — a holder id with an expiry — kept
where every beat of the broker can see it:

==========================  ====================================================================
broker                      lease
==========================  ====================================================================
``memory://<name>``         an in-process table keyed by the broker URL (tests, embedded beats)
``sqlite://``               table ``celeriac_beat_lease`` in the broker's own SQLite file
``redis://`` (and TLS,      key ``<global_keyprefix>celeriac.beat.lock``: ``SET NX PX`` to take,
socket, sentinel)           a compare-and-set Lua script to renew and to release
anything else (AMQP, SQS)   the run-state store's: its Redis server with ``-s redis://...``
                            (shared by every host), else the SQLite table in the schedule file
                            (exclusive among beats sharing that file), with a warning at start
==========================  ====================================================================

Timing (see :class:`~celeriac.beat.scheduler.BeatOptions`): the lease lasts
``1.5 x max_interval``; the active beat renews it at least every ``max_interval / 2`` (every
tick) and a standby tries to take it every ``max_interval / 4``. A holder that dies is therefore
replaced within ``1.75 x max_interval`` (under the ``2 x`` the issue promises), and a live
holder keeps a full ``max_interval`` of margin for a slow tick. A beat that stops cleanly
releases the lease so its standby takes over at its next try. The scheduler re-checks that its
lease is still valid before every send, so a paused holder (SIGSTOP, a long GC) does not keep
sending after it expired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from celeriac.beat.sqlite_db import BeatDatabase

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "celeriac.beat.lock"
TimeFn = Callable[[], float]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS celeriac_beat_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires REAL NOT NULL
    ) WITHOUT ROWID""",
)


class BeatLock(Protocol):
    """A renewable, expiring lease with one holder at a time."""

    holder: str

    def acquire(self, ttl: float) -> bool:
        """Take the lease for ``ttl`` s if free or expired, or renew it if we hold it.

        Returns whether this holder has it now. Taking and renewing are one atomic step.
        """
        ...

    def release(self) -> None:
        """Give the lease up if this holder has it (a standby may take it at once)."""
        ...

    def close(self) -> None: ...


class _MemoryLeases:
    """The process-wide lease table behind ``MemoryLock`` (as ``memory://`` brokers are)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leases: dict[str, tuple[str, float]] = {}


_memory_leases = _MemoryLeases()


class MemoryLock:
    """A lease shared by the beats of one process on the same ``memory://`` broker.

    Args:
        key: what beats must share to exclude each other (the broker URL).
        holder: this beat's id.
        time_fn: epoch seconds; the scheduler passes its clock, so tests drive expiry.
    """

    def __init__(self, key: str, holder: str, time_fn: TimeFn) -> None:
        self.key = key
        self.holder = holder
        self._time = time_fn

    def acquire(self, ttl: float) -> bool:
        now = self._time()
        with _memory_leases.lock:
            current = _memory_leases.leases.get(self.key)
            if current is None or current[0] == self.holder or current[1] <= now:
                _memory_leases.leases[self.key] = (self.holder, now + ttl)
                return True
            return False

    def release(self) -> None:
        with _memory_leases.lock:
            current = _memory_leases.leases.get(self.key)
            if current is not None and current[0] == self.holder:
                del _memory_leases.leases[self.key]

    def close(self) -> None:
        return None


class SqliteLock:
    """A lease row in a SQLite file (the broker's, or the schedule file as a fallback).

    Expiry is compared with ``time_fn()`` of whoever tries to take the lease, so the beats must
    share a clock: true for one host, which is where a SQLite file is shared.
    """

    def __init__(self, path: str, holder: str, time_fn: TimeFn, name: str = LOCK_NAME) -> None:
        self.db = BeatDatabase(path, _SCHEMA)
        self.name = name
        self.holder = holder
        self._time = time_fn

    def acquire(self, ttl: float) -> bool:
        now = self._time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO celeriac_beat_lease (name, holder, expires) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                "expires = excluded.expires "
                "WHERE celeriac_beat_lease.holder = excluded.holder "
                "OR celeriac_beat_lease.expires <= ?",
                (self.name, self.holder, now + ttl, now),
            )
            row = conn.execute(
                "SELECT holder FROM celeriac_beat_lease WHERE name = ?", (self.name,)
            ).fetchone()
        return row is not None and row[0] == self.holder

    def release(self) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM celeriac_beat_lease WHERE name = ? AND holder = ?",
                (self.name, self.holder),
            )

    def close(self) -> None:
        self.db.close()


def lock_for(app: Celery, holder: str, time_fn: TimeFn, store: object = None) -> BeatLock:
    """The lease that fits ``app``'s broker (see the module docstring's table).

    For brokers without a lease of their own, the run-state ``store`` hosts it: its Redis
    server (shared by every host) or its SQLite file (shared by the beats using that file).
    """
    from celeriac.config.urls import scheme_of

    url = app.broker_url
    scheme = scheme_of(url)
    if scheme == "memory":
        return MemoryLock(url.split("?", 1)[0], holder, time_fn)
    if scheme in ("sqlite", "sqla+sqlite"):
        from celeriac.clients.sqlite import parse_sqlite_url

        return SqliteLock(parse_sqlite_url(url), holder, time_fn)
    if scheme in ("redis", "rediss", "redis+socket", "sentinel", "unix", "socket"):
        from celeriac.beat.lock_redis import RedisLock

        return RedisLock.for_transport(app.transport, holder)
    return _lock_in_store(scheme, store, holder, time_fn)


def _lock_in_store(scheme: str, store: object, holder: str, time_fn: TimeFn) -> BeatLock:
    client = getattr(store, "client", None)
    if client is not None and hasattr(store, "prefix"):  # a RedisScheduleStore
        from celeriac.beat.lock_redis import RedisLock

        return RedisLock(client, f"{getattr(store, 'prefix', '')}{LOCK_NAME}", holder)
    path = getattr(store, "path", None)
    if isinstance(path, str):
        logger.warning(
            "beat: %s brokers have no shared lease yet; the lease lives in the schedule file "
            "%s, which keeps only beats sharing that file from sending twice. Use -s redis://... "
            "to share it across hosts, or run a single beat.",
            scheme,
            path,
        )
        return SqliteLock(path, holder, time_fn)
    logger.warning(
        "beat: %s brokers have no shared lease and run state is in memory: this beat cannot "
        "tell whether another one is running",
        scheme,
    )
    return MemoryLock(f"{scheme}:{id(store)}", holder, time_fn)
