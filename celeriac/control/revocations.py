"""Durable revocations: the record that lets a worker started *after* a revoke refuse the task.

Celery keeps revoked ids only in worker memory (spread by the broadcast and by mingle), so a
worker that was not running when ``revoke`` was called may still execute the task
(wire-protocol.md §6.1). celeriac's ``Control.revoke`` also writes the ids, with an expiry,
next to the broker:

=========  =====================================================================================
Redis      zset ``<global_keyprefix>celeriac.revoked`` (member = task id, score = expiry, epoch
           s) and the counter ``<global_keyprefix>celeriac.revoked.version``
SQLite     table ``revoked`` (task_id, expires_at) in the broker file, version in ``meta``
RabbitMQ   the stream queue ``celeriac.revoked``, one record per revoke, read from offset
           ``first`` by every worker (``celeriac/transport/amqp/revocations.py`` says why a
           stream, and what it costs)
memory://  a side table of the in-process namespace
=========  =====================================================================================

Workers ``load`` the live entries at start and on each heartbeat compare ``version`` (one
cheap read) to reload only when something changed. Entries expire after ``DEFAULT_EXPIRES``
(Celery's REVOKE_EXPIRES, 3 hours) and at most ``MAX_ENTRIES`` (Celery's REVOKES_MAX) are kept.
Brokers without a store here (SQS) get ``NullRevocationStore``: revocation then works as in
Celery, for running workers only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from celeriac.transport.base import Transport

logger = logging.getLogger(__name__)

DEFAULT_EXPIRES: Final = 10800.0
MAX_ENTRIES: Final = 50000
_MEMORY_KEY: Final = "celeriac.revoked"


#: What marks an entry as a revocation by stamp (``revoke_by_stamped_headers``) rather than
#: a task id: ``celeriac.stamp:["name",value]``, which no task id (a UUID) can equal. Such
#: entries ride in every store below unchanged (``worker/revoked_stamps.py`` reads them).
STAMP_PREFIX: Final = "celeriac.stamp:"


def stamp_entry(name: str, value: Any) -> str | None:
    """The registry/store entry revoking ``value`` of stamp ``name`` (None: not JSON)."""
    try:
        return STAMP_PREFIX + json.dumps([name, value], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def parse_headers(raw: Any) -> dict[str, Any]:
    """The ``headers`` argument: a dict, or the shell's ``["key=value", ...]`` (Celery)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        raw = [raw]
    out: dict[str, Any] = {}
    for item in raw or ():
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def stamp_entries(headers: Mapping[str, Any] | Sequence[str]) -> list[str]:
    """One entry per revoked value of ``headers`` (``{stamp: value or [values]}``)."""
    found = (stamp_entry(name, value) for name, values in parse_headers(headers).items()
             for value in (values if isinstance(values, list | tuple) else [values]))
    return [entry for entry in found if entry is not None]


class RevocationStore(Protocol):
    """Where revoked task ids outlive the workers that heard the broadcast."""

    def add(self, task_ids: Sequence[str], expires: float = DEFAULT_EXPIRES) -> None:
        """Record ``task_ids`` as revoked for ``expires`` seconds from now."""

    def version(self) -> str:
        """A token that changes whenever ``add`` wrote something; cheap to read."""

    def load(self) -> dict[str, float]:
        """Every unexpired revoked id with its expiry (epoch seconds)."""

    def close(self) -> None:
        """Release connections this store opened itself."""


class NullRevocationStore:
    """For brokers without a store: nothing is kept, nothing is ever loaded."""

    def add(self, task_ids: Sequence[str], expires: float = DEFAULT_EXPIRES) -> None:
        return None

    def version(self) -> str:
        return ""

    def load(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        return None


class MemoryRevocationStore:
    """A side table of one ``memory://`` namespace, shared by its client and workers."""

    def __init__(self, transport: Any) -> None:
        self._lock = transport.lock
        self._table: dict[str, Any] = transport.shared(_MEMORY_KEY)
        self._table.setdefault("version", 0)
        self._table.setdefault("ids", {})

    def add(self, task_ids: Sequence[str], expires: float = DEFAULT_EXPIRES) -> None:
        deadline = time.time() + expires
        with self._lock:
            ids: dict[str, float] = self._table["ids"]
            for task_id in task_ids:
                ids[task_id] = max(deadline, ids.get(task_id, 0.0))
            self._table["version"] += 1

    def version(self) -> str:
        with self._lock:
            return str(self._table["version"])

    def load(self) -> dict[str, float]:
        now = time.time()
        with self._lock:
            ids: dict[str, float] = self._table["ids"]
            for task_id in [t for t, exp in ids.items() if exp <= now]:
                del ids[task_id]
            return dict(ids)

    def close(self) -> None:
        return None


class SqliteRevocationStore:
    """Table ``revoked`` in the broker file (created on first use), version in ``meta``."""

    def __init__(self, path: str) -> None:
        from celeriac.clients.sqlite import SqliteHandle

        self.handle = SqliteHandle(path)
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            with self.handle.connection() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS revoked (task_id TEXT PRIMARY KEY,"
                             " expires_at REAL NOT NULL) WITHOUT ROWID")
            self._ready = True

    def add(self, task_ids: Sequence[str], expires: float = DEFAULT_EXPIRES) -> None:
        self._ensure()
        now = time.time()
        with self.handle.transaction() as conn:
            conn.executemany(
                "INSERT INTO revoked (task_id, expires_at) VALUES (?, ?) ON CONFLICT (task_id)"
                " DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                [(task_id, now + expires) for task_id in task_ids])
            conn.execute("DELETE FROM revoked WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('revoked_version', 1) ON CONFLICT (key)"
                " DO UPDATE SET value = value + 1")

    def version(self) -> str:
        with self.handle.connection() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'revoked_version'").fetchone()
        return "" if row is None else str(row[0])

    def load(self) -> dict[str, float]:
        self._ensure()
        with self.handle.connection() as conn:
            rows = conn.execute(
                "SELECT task_id, expires_at FROM revoked WHERE expires_at > ?"
                " ORDER BY expires_at DESC LIMIT ?", (time.time(), MAX_ENTRIES)).fetchall()
        return {str(task_id): float(expires_at) for task_id, expires_at in rows}

    def close(self) -> None:
        self.handle.close()


class RedisRevocationStore:
    """A zset plus a version counter, under the broker's ``global_keyprefix``."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client = client
        self.key = f"{prefix}celeriac.revoked"
        self.version_key = f"{prefix}celeriac.revoked.version"

    def add(self, task_ids: Sequence[str], expires: float = DEFAULT_EXPIRES) -> None:
        if not task_ids:
            return
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.key, {task_id: now + expires for task_id in task_ids}, gt=True)
        pipe.zremrangebyscore(self.key, "-inf", now)
        pipe.zremrangebyrank(self.key, 0, -(MAX_ENTRIES + 1))
        pipe.incr(self.version_key)
        pipe.execute()

    def version(self) -> str:
        value = self.client.get(self.version_key)
        return "" if value is None else value.decode() if isinstance(value, bytes) else str(value)

    def load(self) -> dict[str, float]:
        rows = self.client.zrangebyscore(self.key, time.time(), "+inf", withscores=True)
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in rows}

    def close(self) -> None:
        return None  # the client belongs to the transport


def _amqp_store(transport: Any) -> RevocationStore:
    from celeriac.clients.retry import PUBLISH_RETRY, RetryPolicy
    from celeriac.transport.amqp.revocations import AmqpRevocationStore

    typed = transport.options.amqp
    policy = RetryPolicy.from_mapping(typed.publish_retry_policy, PUBLISH_RETRY)
    return AmqpRevocationStore(transport.params, policy, MAX_ENTRIES)


def open_revocation_store(transport: Transport) -> RevocationStore:
    """The store that fits ``transport`` (see the module docstring); never raises."""
    kind = type(transport).__name__
    try:
        if kind == "MemoryTransport":
            return MemoryRevocationStore(transport)
        if kind == "SqliteTransport":
            return SqliteRevocationStore(str(getattr(transport, "path")))  # noqa: B009
        if kind == "RedisTransport":
            layout = getattr(transport, "layout", None)
            prefix = str(getattr(layout, "prefix", "") or "")
            return RedisRevocationStore(getattr(transport, "client"), prefix)  # noqa: B009
        if kind == "AmqpTransport":
            return _amqp_store(transport)
    except Exception as exc:
        logger.warning("Durable revocations unavailable on %r: %s", transport, exc)
        return NullRevocationStore()
    logger.info("Broker %s keeps no durable revocations: a revoke reaches running workers "
                "only (as in Celery)", kind)
    return NullRevocationStore()


__all__ = [
    "DEFAULT_EXPIRES",
    "MAX_ENTRIES",
    "STAMP_PREFIX",
    "MemoryRevocationStore",
    "NullRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "SqliteRevocationStore",
    "open_revocation_store",
    "parse_headers",
    "stamp_entries",
    "stamp_entry",
]
