"""``result_backend = 'django-db'``: task results as rows of ``django-celery-results``' tables.

A row holds what that package's ``DatabaseBackend`` writes, so Celery and celeriac read each
other's rows and the admin shows both: ``status``, ``result`` and ``meta`` (``children``, and
``group_id``/``parent_id``, which Celery folds into the record it reads) in
``result_serializer`` (``columns``); with ``result_extended``, ``task_name``, ``task_args``,
``task_kwargs`` (serialized alike), ``worker`` and ``periodic_task_name``; ``date_started``
when the task started, ``date_done`` at each write.

``store`` is atomic: in one transaction it inserts missing rows (ignoring conflicts, so two
writers of a new task id queue up instead of failing), locks the batch's rows
(``SELECT … FOR UPDATE``, in id order) and writes each record only where
``final_state.may_replace`` allows: a SUCCESS is never overwritten, however many workers race.

Records older than ``result_expires`` (by ``date_done``) read as absent at once and are deleted
by a writer at most once a minute (``celery.backend_cleanup`` still deletes them as in Celery).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from celeriac import states
from celeriac.backends.base import poll_until_ready
from celeriac.backends.capabilities import Capability, StoreCapabilities
from celeriac.backends.chords import ChordJoin, LazyJoin
from celeriac.backends.final_state import may_replace
from celeriac.config.frozen import BackendOptions
from celeriac.contrib.django.results.columns import ColumnCodec
from celeriac.contrib.django.results.connections import (
    ensure_django,
    on_connection,
    refuse_url_parts,
)
from celeriac.protocol.result_meta import ResultMeta

_CLEANUP_EVERY: Final = 60.0
#: Extended fields with no column of their own: kept in ``meta`` (Celery drops them).
_META_EXTENDED: Final = ("retries", "queue")
#: The status of a row inserted by ``store`` only to be locked; never committed as such.
_PLACEHOLDER: Final = ""


class DjangoDbBackend(StoreCapabilities):
    """Task results, saved groups and chord counters in the Django database."""

    persistent = True
    capabilities = frozenset({Capability.GROUPS, Capability.STORE_IF_NOT_FINAL,
                              Capability.CHORDS})

    def __init__(self, options: BackendOptions | None = None) -> None:
        ensure_django()
        from celeriac.contrib.django.results import models
        from celeriac.contrib.django.results.db_chords import DjangoChordJoin

        self.options = options or BackendOptions()
        self.columns = ColumnCodec(self.options)
        self._models = models
        self._chord_join = LazyJoin(DjangoChordJoin)
        self._last_cleanup = 0.0

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """``django-db`` (``django-db://`` too): the database router picks the database."""
        refuse_url_parts(url, "Django's DATABASES and database routers choose the database")
        return cls(options)

    # -- helpers ---------------------------------------------------------------------------
    def _write_db(self, model: Any) -> str:
        return str(router.db_for_write(model))

    def _live(self, model: Any, using: str) -> Any:
        """``model``'s rows not expired by ``result_expires``."""
        rows = model.objects.using(using)
        if self.options.expires:
            rows = rows.filter(date_done__gte=_now() - timedelta(seconds=self.options.expires))
        return rows

    def _read_db(self, model: Any) -> str:
        return str(router.db_for_read(model))

    # -- the ResultBackend interface -------------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        if not metas:
            return
        task_model = self._models.TaskResult
        using = self._write_db(task_model)
        on_connection(using, "store results", lambda: self._store(metas, using))
        self._cleanup(using)

    def _store(self, metas: Sequence[ResultMeta], using: str) -> None:
        task_model = self._models.TaskResult
        ids = sorted({meta.task_id for meta in metas})
        with transaction.atomic(using=using):
            task_model.objects.using(using).bulk_create(
                [task_model(task_id=tid, status=_PLACEHOLDER) for tid in ids],
                ignore_conflicts=True)
            rows = {row.task_id: row for row in task_model.objects.using(using)
                    .select_for_update().filter(task_id__in=ids).order_by("task_id")}
            expired = _now() - timedelta(seconds=self.options.expires or 0)
            status = {tid: (None if row.status == _PLACEHOLDER
                            or (self.options.expires and row.date_done < expired)
                            else row.status) for tid, row in rows.items()}
            chosen: dict[str, ResultMeta] = {}
            started: set[str] = set()
            for meta in metas:
                old = status[meta.task_id]
                if old is None or may_replace(old, meta.status):
                    chosen[meta.task_id] = meta
                    status[meta.task_id] = meta.status
                    if meta.status == states.STARTED:
                        started.add(meta.task_id)
            for tid, meta in chosen.items():
                fields = self._columns(meta)
                if tid in started:
                    fields["date_started"] = _now()
                task_model.objects.using(using).filter(pk=rows[tid].pk).update(**fields)

    def _columns(self, meta: ResultMeta) -> dict[str, Any]:
        extended = meta.extended or {}
        extra: dict[str, Any] = {"children": meta.children}
        if meta.group_id is not None:
            extra["group_id"] = meta.group_id
        if meta.parent_id is not None:
            extra["parent_id"] = meta.parent_id
        extra.update((key, extended[key]) for key in _META_EXTENDED if key in extended)
        encode = self.columns.encode
        return {
            "status": meta.status,
            "result": encode(meta.result),
            "traceback": meta.traceback,
            "meta": encode(extra),
            "content_type": self.columns.content_type,
            "content_encoding": self.columns.content_encoding,
            "date_done": _column_time(meta.date_done),
            "task_name": extended.get("name"),
            "task_args": encode(extended["args"]) if "args" in extended else None,
            "task_kwargs": encode(extended["kwargs"]) if "kwargs" in extended else None,
            "worker": extended.get("worker"),
            "periodic_task_name": extended.get("periodic_task_name"),
        }

    def get(self, task_id: str) -> ResultMeta:
        return self.get_many([task_id])[0]

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        if not task_ids:
            return []
        model = self._models.TaskResult
        using = self._read_db(model)
        rows = on_connection(using, "read results", lambda: {
            row.task_id: row
            for row in self._live(model, using).filter(task_id__in=list(task_ids))})
        return [self._record(rows[tid]) if tid in rows else ResultMeta(tid) for tid in task_ids]

    def _record(self, row: Any) -> ResultMeta:
        def decode(text: str | None) -> Any:
            return self.columns.decode(row.content_type, row.content_encoding, text)

        extra = decode(row.meta) or {}
        extended: dict[str, Any] = {key: extra[key] for key in _META_EXTENDED if key in extra}
        if row.task_name is not None:
            extended["name"] = row.task_name
        for key, column in (("args", row.task_args), ("kwargs", row.task_kwargs)):
            if column is not None:
                extended[key] = decode(column)
        for key in ("worker", "periodic_task_name"):
            if getattr(row, key) is not None:
                extended[key] = getattr(row, key)
        return ResultMeta(
            task_id=row.task_id, status=row.status, result=decode(row.result),
            traceback=row.traceback, children=extra.get("children"),
            date_done=_iso(row.date_done), group_id=extra.get("group_id"),
            parent_id=extra.get("parent_id"), extended=extended or None)

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Poll the row with backoff (the database has no notifications Django exposes)."""
        return poll_until_ready(self.get, task_id, timeout, interval)

    def forget(self, task_id: str) -> None:
        model = self._models.TaskResult
        using = self._write_db(model)
        on_connection(using, "forget a result",
                      lambda: model.objects.using(using).filter(task_id=task_id).delete())

    # -- the GROUPS capability: the GroupResult table ------------------------------------
    def save_group(self, group_id: str, result: Any) -> None:
        """Keep ``result.as_tuple()`` in ``result_serializer``, as ``django-celery-results``."""
        tree = result.as_tuple() if hasattr(result, "as_tuple") else result
        model = self._models.GroupResult
        using = self._write_db(model)
        fields = {"result": self.columns.encode(tree), "date_done": _now(),
                  "content_type": self.columns.content_type,
                  "content_encoding": self.columns.content_encoding}
        on_connection(using, "save a group", lambda: model.objects.using(using)
                      .update_or_create(group_id=group_id, defaults=fields))

    def restore_group(self, group_id: str) -> Any:
        model = self._models.GroupResult
        using = self._read_db(model)
        row = on_connection(using, "restore a group", lambda: self._live(model, using)
                            .filter(group_id=group_id).first())
        if row is None:
            return None
        return self.columns.decode(row.content_type, row.content_encoding, row.result)

    def delete_group(self, group_id: str) -> None:
        model = self._models.GroupResult
        using = self._write_db(model)
        on_connection(using, "delete a group",
                      lambda: model.objects.using(using).filter(group_id=group_id).delete())

    # -- the CHORDS capability: the ChordCounter table -------------------------------------
    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    # -- housekeeping ----------------------------------------------------------------------
    def _cleanup(self, using: str) -> None:
        """Delete expired task and group rows, at most once a minute per store."""
        now = time.monotonic()
        if not self.options.expires or now - self._last_cleanup < _CLEANUP_EVERY:
            return
        self._last_cleanup = now
        cutoff = _now() - timedelta(seconds=self.options.expires)
        for model in (self._models.TaskResult, self._models.GroupResult):
            expired = model.objects.using(using).filter(date_done__lt=cutoff)
            on_connection(using, "delete expired results", expired.delete)

    def close(self) -> None:
        """Close this thread's connection unless a transaction of the caller's holds it."""
        connection = connections[self._write_db(self._models.TaskResult)]
        if not connection.in_atomic_block:
            connection.close()

    def __repr__(self) -> str:
        return "<DjangoDbBackend django-db>"


def _now() -> datetime:
    """Now, as Django wants it (aware with ``USE_TZ``, naive local time without)."""
    return timezone.now()  # type: ignore[no-any-return]


def _column_time(date_done: str | None) -> datetime:
    """``date_done`` (ISO-8601) for the column; now when the record has none."""
    if not date_done:
        return _now()
    parsed = datetime.fromisoformat(date_done)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not settings.USE_TZ:
        return timezone.make_naive(parsed)  # type: ignore[no-any-return]
    return parsed


def _iso(value: datetime | None) -> str | None:
    """A column's time as Celery 5.5+ writes ``date_done``: aware UTC ISO-8601."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.astimezone(UTC).isoformat()


__all__ = ["DjangoDbBackend"]
