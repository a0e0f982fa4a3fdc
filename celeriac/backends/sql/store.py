"""``SqlBackend``: task results in Celery's ``celery_taskmeta``, groups in ``celery_tasksetmeta``.

What a row holds, as Celery 5.7's database backend writes it: ``status``, ``result`` and
``children`` encoded with ``result_serializer`` (``values``), ``date_done`` as naive UTC (NULL
until the task is finished), ``traceback``; with ``result_extended`` also ``name``, ``args``
and ``kwargs`` (encoded), ``worker``, ``retries``, ``queue``. Celery's tables have no column
for ``group_id`` or ``parent_id``: they are not kept (``kept`` says what a record reads back as).

Never overwrite SUCCESS, atomically and without reading first: a batch's new tasks are one
``INSERT … ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL, SQLite); every other record is one
conditional ``UPDATE … WHERE task_id = ? AND status <> 'SUCCESS'`` (and, for a RETRY, ``AND
status NOT IN`` the finished states: ``final_state.may_replace`` as SQL); a row still missing
is inserted with insert-if-absent, and a row another writer inserted meanwhile gets the
conditional ``UPDATE`` again. ``result_expires``: an older ``date_done`` reads as missing,
and a writer deletes expired rows at most once a minute (as Celery's ``backend_cleanup``
task would).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any, Final, Self

import sqlalchemy as sa

from celeriac import states
from celeriac.backends.base import poll_until_ready
from celeriac.backends.capabilities import Capability, StoreCapabilities
from celeriac.backends.chords import ChordJoin, LazyJoin
from celeriac.backends.sql import tables as sql_tables
from celeriac.backends.sql.chords import SqlChordJoin, utcnow
from celeriac.backends.sql.engine import EngineHolder, engine_url
from celeriac.backends.sql.upsert import insert_if_absent, insert_many_if_absent
from celeriac.backends.sql.values import ValueCodec
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import DecodeError, ImproperlyConfigured
from celeriac.protocol.result_meta import ResultMeta, parse_date_done

_CLEANUP_EVERY: Final = 60.0
_FINISHED: Final = tuple(sorted(states.READY_STATES))


class SqlBackend(StoreCapabilities):
    """Celery's SQL result store on any SQLAlchemy database (see the module docstring)."""

    persistent = True
    capabilities = frozenset({Capability.CHORDS, Capability.GROUPS,
                              Capability.STORE_IF_NOT_FINAL})

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self.codec = ValueCodec(self.options.serializer, self.options.compression,
                                self.options.accept)
        database = self.options.database
        self.holder = EngineHolder(engine_url(url), database)
        self.tables = sql_tables.define(database.table_names, database.table_schemas,
                                        extended=self.options.extended)
        self._prepared = False
        self._last_cleanup = time.monotonic()
        self._chord_join = LazyJoin(lambda: SqlChordJoin(self._ready(), self.tables))
        if database.create_tables_at_setup:
            self._ready()

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """``db+<SQLAlchemy URL>``; ``database``/``db`` alone use ``database_url``."""
        if "://" not in url:
            if not options.database.url:
                raise ImproperlyConfigured(
                    f"result_backend={url!r} needs database_url (a SQLAlchemy URL), or give "
                    "the URL as result_backend='db+postgresql://…'")
            url = options.database.url
        return cls(url, options)

    def _ready(self) -> EngineHolder:
        """The engine, with the tables created on first use (``database_create_tables_at_setup``
        False defers it to here, as in Celery)."""
        if not self._prepared:
            self.holder.create_tables(lambda engine: sql_tables.create(engine, self.tables))
            self._prepared = True
        return self.holder

    @property
    def dialect(self) -> str:
        return self.holder.engine.dialect.name

    # -- writing ---------------------------------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        if not metas:
            return
        task = self.tables.task
        rows = [{"task_id": meta.task_id, **self._columns(meta)} for meta in metas]
        with self._ready().begin() as conn:
            # New tasks' records in one INSERT where the dialect says which it inserted (the
            # first record of each task: later ones in the batch are judged against it).
            firsts = {row["task_id"]: index for index, row in reversed(list(enumerate(rows)))}
            inserted = insert_many_if_absent(conn, task, [rows[i] for i in firsts.values()],
                                             "task_id") or set()
            for index, (meta, row) in enumerate(zip(metas, rows, strict=True)):
                if meta.task_id in inserted and firsts[meta.task_id] == index:
                    continue
                guard = sa.update(task).where(task.c.task_id == meta.task_id,
                                              _may_replace(task.c.status, meta.status))
                if conn.execute(guard.values(row)).rowcount:
                    continue
                if not insert_if_absent(conn, task, row):
                    conn.execute(guard.values(row))  # inserted by a racing writer
            self._maybe_cleanup(conn)

    def _columns(self, meta: ResultMeta) -> dict[str, Any]:
        encode = self.codec.dumps
        finished = parse_date_done(meta.date_done) if meta.ready else None
        values: dict[str, Any] = {
            "status": meta.status,
            "result": None if meta.result is None else encode(meta.result),
            "date_done": None if finished is None else finished.astimezone(UTC).replace(
                tzinfo=None),
            "traceback": meta.traceback,
            "children": None if meta.children is None else encode(meta.children),
        }
        if self.tables.extended:
            extended = meta.extended or {}
            values.update({key: extended.get(key) for key in sql_tables.EXTENDED_PLAIN})
            for key in ("args", "kwargs"):
                value = extended.get(key)
                values[key] = None if value is None else encode(value)
        return values

    def forget(self, task_id: str) -> None:
        task = self.tables.task
        with self._ready().begin() as conn:
            conn.execute(sa.delete(task).where(task.c.task_id == task_id))

    # -- reading ---------------------------------------------------------------------------
    def get(self, task_id: str) -> ResultMeta:
        return self.get_many([task_id])[0]

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        if not task_ids:
            return []
        task = self.tables.task
        query = sa.select(task).where(task.c.task_id.in_(sorted(set(task_ids))),
                                      self._live(task.c.date_done))
        with self._ready().begin() as conn:
            rows = {row.task_id: row._mapping for row in conn.execute(query)}
        return [self._meta(tid, rows[tid]) if tid in rows else ResultMeta(tid)
                for tid in task_ids]

    def _meta(self, task_id: str, row: Any) -> ResultMeta:
        loads = self.codec.loads
        try:
            extended = None
            if self.tables.extended and any(row[key] is not None for key in ("name", "args")):
                extended = {key: row[key] for key in sql_tables.EXTENDED_PLAIN}
                extended.update(args=loads(row["args"]), kwargs=loads(row["kwargs"]))
            done = row["date_done"]
            return ResultMeta(
                task_id, row["status"] or states.PENDING, loads(row["result"]),
                traceback=row["traceback"], children=loads(row["children"]),
                date_done=None if done is None else done.replace(tzinfo=UTC).isoformat(),
                extended=extended)
        except (DecodeError, ValueError) as exc:
            raise DecodeError(f"The stored result of task {task_id} in "
                              f"{self.tables.task.name} does not decode: {exc}") from exc

    def kept(self, meta: ResultMeta) -> ResultMeta:
        """What ``meta`` reads back as after ``store``: no ``group_id``/``parent_id``
        (Celery's table has no such columns), ``date_done`` at the column's precision
        (whole seconds on MySQL/MariaDB), extended fields only with ``result_extended``."""
        done = parse_date_done(meta.date_done) if meta.ready else None
        if done is not None and self.dialect in ("mysql", "mariadb"):
            done = done.replace(microsecond=0)  # MariaDB truncates to DATETIME(0)
        extended = None
        if self.tables.extended and meta.extended:
            extended = {key: meta.extended.get(key)
                        for key in (*sql_tables.EXTENDED_PLAIN, "args", "kwargs")}
        return ResultMeta(meta.task_id, meta.status, meta.result, meta.traceback,
                          meta.children, None if done is None else done.astimezone(UTC)
                          .isoformat(), extended=extended)

    def raw_result(self, task_id: str) -> bytes | None:
        """The ``result`` column as stored (for tests and tools)."""
        task = self.tables.task
        with self._ready().begin() as conn:
            value = conn.execute(sa.select(task.c.result)
                                 .where(task.c.task_id == task_id)).scalar()
        return None if value is None else bytes(value)

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        return poll_until_ready(self.get, task_id, timeout, interval)

    # -- expiry ----------------------------------------------------------------------------
    def _live(self, date_done: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        if not self.options.expires:
            return sa.true()
        oldest = utcnow() - timedelta(seconds=self.options.expires)
        return sa.or_(date_done.is_(None), date_done >= oldest)

    def _maybe_cleanup(self, conn: sa.Connection) -> None:
        now = time.monotonic()
        if now - self._last_cleanup >= _CLEANUP_EVERY:
            self._last_cleanup = now
            self._cleanup(conn)

    def cleanup(self) -> None:
        """Delete expired records, groups and chords (Celery's ``backend.cleanup()``)."""
        with self._ready().begin() as conn:
            self._cleanup(conn)

    def _cleanup(self, conn: sa.Connection) -> None:
        if not self.options.expires:
            return
        oldest = utcnow() - timedelta(seconds=self.options.expires)
        for table in (self.tables.task, self.tables.group):
            conn.execute(sa.delete(table).where(table.c.date_done < oldest))
        SqlChordJoin(self.holder, self.tables).cleanup(conn, oldest)

    # -- capabilities ----------------------------------------------------------------------
    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    def save_group(self, group_id: str, result: Any) -> None:
        """Celery's layout: ``taskset_id`` and ``encode(result.as_tuple())``."""
        tree = result.as_tuple() if hasattr(result, "as_tuple") else result
        group = self.tables.group
        values = {"result": self.codec.dumps(tree), "date_done": utcnow()}
        with self._ready().begin() as conn:
            if not insert_if_absent(conn, group, {"taskset_id": group_id, **values}):
                conn.execute(sa.update(group).where(group.c.taskset_id == group_id)
                             .values(values))

    def restore_group(self, group_id: str) -> Any:
        group = self.tables.group
        query = sa.select(group.c.result).where(group.c.taskset_id == group_id,
                                                self._live(group.c.date_done))
        with self._ready().begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else self.codec.loads(row[0])

    def delete_group(self, group_id: str) -> None:
        group = self.tables.group
        with self._ready().begin() as conn:
            conn.execute(sa.delete(group).where(group.c.taskset_id == group_id))

    def close(self) -> None:
        self.holder.dispose()

    def __repr__(self) -> str:
        return f"<SqlBackend db+{self.holder.redacted}>"


def _may_replace(status: sa.ColumnElement[Any], new_status: str) -> sa.ColumnElement[bool]:
    """``final_state.may_replace(old, new)`` as a condition on the stored ``status``."""
    keep = [states.SUCCESS, *(_FINISHED if new_status == states.RETRY else ())]
    return sa.or_(status.is_(None), status.not_in(keep))


__all__ = ["SqlBackend"]
