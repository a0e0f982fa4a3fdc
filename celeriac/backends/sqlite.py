"""``sqlite:///path.db``: celeriac's default result store, one table in a file (``db+`` URLs are
Celery's SQL store, ``backends/sql``).

Records live in the ``results`` table (``clients/sqlite_schema.py``), so the store can share
the broker's file. Expired rows are invisible at once and deleted lazily, at most once a minute,
by a writer. ``store`` reads the old records and writes the new ones in one ``BEGIN IMMEDIATE``
transaction, so the replace rule (``backends.final_state.may_replace``: never overwrite a SUCCESS,
never hide a finished state behind a stale RETRY) holds even when two processes race.

``wait`` wakes at once for a result written in this process (the file's ``Notifier``) and
otherwise polls ``PRAGMA data_version`` (a shared-memory counter) with a backoff from 5 ms to
50 ms, reading the record only when some other connection has committed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Final, Self

from celeriac.backends.base import TASK_KEY_PREFIX, KeyValueBackend
from celeriac.backends.capabilities import Capability
from celeriac.backends.chords import ChordJoin, LazyJoin, SqliteChordJoin
from celeriac.clients.sqlite import FileWakeups, SqliteHandle, parse_sqlite_url
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import TimeoutError
from celeriac.protocol.result_meta import ResultMeta

_CLEANUP_EVERY: Final = 60.0
_MAX_POLL: Final = 0.05
_LIVE: Final = "(expires_at IS NULL OR expires_at > ?)"
_UPSERT: Final = (
    "INSERT INTO results (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key)"
    " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)


class SqliteBackend(KeyValueBackend):
    """Task results in a SQLite file; thread-safe and fork-aware like the broker's channels."""

    persistent = True
    capabilities = KeyValueBackend.capabilities | {Capability.CHORDS}

    def __init__(self, path: str, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self._chord_join = LazyJoin(lambda: SqliteChordJoin(self.path, self.options.expires))
        typed = self.options.sqlite
        self._handle = SqliteHandle(
            path, busy_timeout=typed.busy_timeout, synchronous=typed.synchronous)
        self._last_cleanup = 0.0
        self._wakeups = FileWakeups(path)

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        return cls(parse_sqlite_url(url), options)

    @property
    def path(self) -> str:
        return self._handle.path

    # -- key-value primitives ------------------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        with self._handle.connection() as conn:
            row = conn.execute(
                f"SELECT value FROM results WHERE key = ? AND {_LIVE}", (key, time.time())
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        with self._handle.connection() as conn:
            found = _select(conn, keys)
        return [found.get(key) for key in keys]

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        with self._handle.transaction() as conn:
            self._write(conn, items, ttl)
        self._wakeups().notify()

    def _kv_delete(self, key: str) -> None:
        with self._handle.transaction() as conn:
            conn.execute("DELETE FROM results WHERE key = ?", (key,))

    def _write(
        self, conn: sqlite3.Connection, items: Sequence[tuple[str, bytes]], ttl: float | None
    ) -> None:
        now = time.time()
        expires_at = None if ttl is None else now + ttl
        conn.executemany(_UPSERT, [(key, value, expires_at) for key, value in items])
        if now - self._last_cleanup >= _CLEANUP_EVERY:
            self._last_cleanup = now
            conn.execute(
                "DELETE FROM results WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )

    # -- the ResultBackend interface -------------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Read and write in one transaction, so a racing SUCCESS is never overwritten
        (nor a finished state by a stale RETRY: ``may_replace``)."""
        if not metas:
            return
        keys = [TASK_KEY_PREFIX + meta.task_id for meta in metas]
        with self._handle.transaction() as conn:
            items = self.if_not_final.replacing(keys, metas, _select(conn, keys))
            if items:
                self._write(conn, items, self.options.expires)
        self._wakeups().notify()

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Block until ``task_id`` is ready; see the module docstring for how it waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        notifier = self._wakeups()
        cap = min(interval, _MAX_POLL) if interval > 0 else _MAX_POLL
        while True:
            seq = notifier.seq
            version = self._handle.data_version()
            meta = self.get(task_id)
            if meta.ready:
                return meta
            delay = 0.005
            while True:
                wait = delay
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"The operation timed out waiting for task {task_id}.")
                    wait = min(wait, remaining)
                if notifier.wait(seq, wait) != seq or self._handle.data_version() != version:
                    break
                delay = min(delay * 2, cap)

    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    def close(self) -> None:
        self._handle.close()

    def __repr__(self) -> str:
        return f"<SqliteBackend {self.path}>"


def _select(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, bytes]:
    """Live records of ``keys`` in one query (``json_each`` binds any number of keys)."""
    rows = conn.execute(
        f"SELECT key, value FROM results WHERE key IN (SELECT value FROM json_each(?)) AND {_LIVE}",
        (json.dumps(list(keys)), time.time()),
    ).fetchall()
    return {key: bytes(value) for key, value in rows}


__all__ = ["SqliteBackend"]
