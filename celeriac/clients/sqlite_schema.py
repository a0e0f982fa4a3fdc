"""Tables of the embedded SQLite broker and result store, migrated with ``PRAGMA user_version``.

One file holds everything (broker and results may still be pointed at different files):

* ``messages``: one row per message. ``lease_owner`` is the channel holding it (NULL: ready);
  ``not_before`` is set only while a delayed message is still invisible, and cleared when it
  comes due, so ready messages live in the ``messages_ready`` partial index in exactly the
  order a fetch takes them (priority, higher first, then FIFO): a fetch of N reads N index
  entries no matter how deep the queue is.
* ``consumers``: liveness of lease owners. A lease is valid while its owner's ``last_seen`` is
  fresh, so renewing every lease of a channel is one upsert.
* ``dead_letters``: messages set aside, each kept whole as a kombu JSON envelope.
* ``meta``: small shared facts (when leases were last restored, by any process).
* ``results``: the key-value table of ``SqliteBackend``.

``AUTOINCREMENT`` on ids is deliberate: a reused id would let a late ack from a worker that
was presumed dead delete an unrelated, newer message.

Migrations only ever append to ``_MIGRATIONS``; index ``n`` upgrades version ``n`` to ``n+1``.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from celeriac.exceptions import ImproperlyConfigured

_V1: Final = (
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        exchange TEXT NOT NULL DEFAULT '',
        priority INTEGER NOT NULL DEFAULT 0,
        not_before REAL,
        lease_owner TEXT,
        leased_at REAL,
        redelivered INTEGER NOT NULL DEFAULT 0,
        headers TEXT NOT NULL,
        properties TEXT NOT NULL,
        content_type TEXT NOT NULL,
        content_encoding TEXT NOT NULL,
        body BLOB NOT NULL,
        published_at REAL NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, priority DESC, id)
        WHERE lease_owner IS NULL AND not_before IS NULL""",
    """CREATE INDEX IF NOT EXISTS messages_delayed ON messages (queue, not_before)
        WHERE not_before IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS messages_leased ON messages (lease_owner)
        WHERE lease_owner IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS consumers (
        id TEXT PRIMARY KEY,
        last_seen REAL NOT NULL,
        pid INTEGER,
        hostname TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_aside_at REAL NOT NULL,
        payload BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS results (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        expires_at REAL
    )""",
    """CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at)
        WHERE expires_at IS NOT NULL""",
)

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1,)

SCHEMA_VERSION: Final = len(_MIGRATIONS)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file up to ``SCHEMA_VERSION``; a no-op read when it already is.

    Runs under ``BEGIN IMMEDIATE`` and re-reads the version inside, so processes starting
    together migrate exactly once.

    Raises:
        ImproperlyConfigured: the file was written by a newer celeriac.
    """
    if _version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _version(conn)
        if current > SCHEMA_VERSION:
            raise ImproperlyConfigured(
                f"SQLite schema version {current} is newer than this celeriac understands "
                f"({SCHEMA_VERSION}); upgrade celeriac or point it at another file"
            )
        for statements in _MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


__all__ = ["SCHEMA_VERSION", "migrate"]
