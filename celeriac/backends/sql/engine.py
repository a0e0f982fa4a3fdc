"""The SQL store's SQLAlchemy engine, built from Celery's ``database_*`` settings.

* ``database_engine_options`` go to ``create_engine`` (Celery's default: ``pool_pre_ping``,
  ``pool_recycle=3600``); ``database_engine_callback`` (a callable or its dotted path) is
  called with each engine made.
* ``database_short_lived_sessions``: no pool, a new connection for every operation (Celery
  makes a new session each time; a connection is what a session held).
* The engine belongs to the process that made it: after a fork (a prefork pool child) the
  child makes its own, and leaves the parent's pooled connections alone.
* Errors never show a password: a missing driver is an ``ImproperlyConfigured`` naming the
  package to install; an unreachable or failing database is celeriac's ``OperationalError``
  (which ``result_backend_always_retry`` retries), with the URL redacted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from celeriac.config.frozen import DatabaseStoreOptions
from celeriac.config.urls import redact_url
from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.utils.imports import import_symbol

#: The pip package of each DB-API module SQLAlchemy dialects import.
DRIVER_PACKAGES: Final = {
    "MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]", "asyncpg": "asyncpg", "mariadb": "mariadb",
    "oracledb": "oracledb", "pyodbc": "pyodbc", "pymssql": "pymssql",
}
_CREATE_ATTEMPTS: Final = 10

#: Errors that mean "the database cannot be reached or is busy now", retried as Celery's
#: ``RETRYABLE_DB_ERRORS`` (IntegrityError and other data errors are not).
_TRANSIENT: Final = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                     sa_exc.TimeoutError)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL behind ``db+``.

    Raises:
        ImproperlyConfigured: an in-memory SQLite database (each connection would get its own).
    """
    bare = url[len("db+"):] if url.lower().startswith("db+") else url
    if bare.lower().startswith("sqlite") and bare.split("://", 1)[-1] in ("", "/", "/:memory:"):
        raise ImproperlyConfigured(
            f"result_backend {url!r} is an in-memory SQLite database, private to one "
            "connection: give a file (db+sqlite:///path/results.db), or use sqlite:// for "
            "celeriac's own store in the broker's SQLite file")
    return bare


def callback_of(setting: object) -> Callable[[sa.Engine], object] | None:
    """``database_engine_callback``: None, a callable, or a dotted path to one."""
    callback = import_symbol(setting) if isinstance(setting, str) else setting
    if callback is not None and not callable(callback):
        raise ImproperlyConfigured(
            f"database_engine_callback must be callable, got {callback!r}")
    return callback


class EngineHolder:
    """One engine per process for one URL; ``connect``/``begin`` translate errors."""

    def __init__(self, url: str, options: DatabaseStoreOptions) -> None:
        self.url = url
        self.redacted = redact_url(url)
        self.options = options
        self._callback = callback_of(options.engine_callback)
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._pid = 0
        self.engine  # noqa: B018 - a missing driver or a bad URL fails here, at setup

    @property
    def engine(self) -> sa.Engine:
        engine, pid = self._engine, os.getpid()
        if engine is None or self._pid != pid:
            with self._lock:
                if self._engine is None or self._pid != pid:
                    if self._engine is not None:
                        self._engine.dispose(close=False)  # the parent's connections
                    self._engine = self._create()
                    self._pid = pid
                engine = self._engine
        return engine

    def _create(self) -> sa.Engine:
        kwargs: dict[str, Any] = dict(self.options.engine_options)
        if self.options.short_lived_sessions:
            kwargs = {key: value for key, value in kwargs.items()
                      if not key.startswith("pool") and key not in ("max_overflow", "echo_pool")}
            kwargs["poolclass"] = NullPool
        try:
            engine = sa.create_engine(self.url, **kwargs)
        except ImportError as exc:
            raise self._missing_driver(exc) from None
        except sa_exc.ArgumentError as exc:
            raise ImproperlyConfigured(
                f"result_backend db+{self.redacted}: {redact_url(str(exc))}") from None
        if self._callback is not None:
            self._callback(engine)
        return engine

    def _missing_driver(self, exc: ImportError) -> ImproperlyConfigured:
        module = (exc.name or "").split(".")[0]
        package = DRIVER_PACKAGES.get(module, module or "the database driver")
        hint = (" or use db+mysql+pymysql:// (PyMySQL, installed with celeriac's test extra)"
                if module == "MySQLdb" else "")
        return ImproperlyConfigured(
            f"result_backend db+{self.redacted} needs the {module or 'DB-API'} driver, which is "
            f"not installed: pip install {package!r}{hint}")

    def error(self, exc: sa_exc.SQLAlchemyError) -> Exception:
        """What a SQLAlchemy error becomes: ``OperationalError`` when worth retrying."""
        text = redact_url(str(getattr(exc, "orig", None) or exc)).replace(
            self.url, self.redacted)
        if isinstance(exc, _TRANSIENT):
            return OperationalError(f"result store db+{self.redacted}: {text}")
        return exc

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on success; errors translated."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise self.error(exc) from exc

    def create_tables(self, create: Callable[[sa.Engine], None]) -> None:
        """Run ``create`` with the retries Celery uses for racing table creation."""
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                create(self.engine)
                return
            except sa_exc.DatabaseError as exc:
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise self.error(exc) from exc
                time.sleep(min(1.0, 0.01 * 2**attempt))

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


__all__ = ["DRIVER_PACKAGES", "EngineHolder", "callback_of", "engine_url"]
