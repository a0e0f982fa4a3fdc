"""The SQL result store's own promises, beyond the contract suite (which it passes on
PostgreSQL, MariaDB and SQLite): Celery's settings, safe errors, legacy rows, Celery's layout.
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
import threading
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from celeriac import Celery, states
from celeriac.backends import resolve_backend
from celeriac.backends.sql import tables as sql_tables
from celeriac.backends.sql.store import SqlBackend
from celeriac.config.frozen import BackendOptions, DatabaseStoreOptions, StoreRetryPolicy
from celeriac.exceptions import ContentDisallowed, ImproperlyConfigured, OperationalError
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.serialization.json_codec import json_dumps
from tests.databases import Database, postgres_database

SECRET = "s3cr3t-pw"
CALLED: list[Any] = []


def record_engine(engine: Any) -> None:
    """A ``database_engine_callback`` named by its dotted path."""
    CALLED.append(engine)


@pytest.fixture(scope="module")
def pg() -> Iterator[Database]:
    with postgres_database("sqlstore") as db:
        yield db


def _options(**database: Any) -> BackendOptions:
    return BackendOptions(database=DatabaseStoreOptions(**database))


def _sqlite(tmp_path: Path, **database: Any) -> SqlBackend:
    return SqlBackend.from_url(f"db+sqlite:///{tmp_path / 'r.db'}", _options(**database))


def _done(task_id: str, result: Any = 1, status: str = states.SUCCESS) -> ResultMeta:
    return ResultMeta(task_id, status, result, date_done=now_iso())


# -- URLs and errors ------------------------------------------------------------------------
def test_mysql_without_mysqlclient_names_the_driver_and_hides_the_password() -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    with pytest.raises(ImproperlyConfigured) as info:
        resolve_backend(f"db+mysql://root:{SECRET}@127.0.0.1/x", BackendOptions())
    message = str(info.value)
    assert "mysqlclient" in message and "db+mysql+pymysql://" in message
    assert SECRET not in message


def test_an_unreachable_database_is_a_retryable_error_without_the_password() -> None:
    url = f"db+postgresql://postgres:{SECRET}@127.0.0.1:1/nothing"
    with pytest.raises(OperationalError) as info:
        resolve_backend(url, BackendOptions())
    assert SECRET not in str(info.value) and "**" in str(info.value)
    # result_backend_always_retry retries it, as it does the other stores' outages.
    assert StoreRetryPolicy(always_retry=True).may_retry(info.value, 0)


def test_database_alias_uses_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alias.db'}"
    store = resolve_backend("database", _options(url=url))
    assert isinstance(store, SqlBackend)
    store.close()
    with pytest.raises(ImproperlyConfigured, match="database_url"):
        resolve_backend("database", BackendOptions())


# -- Celery's settings --------------------------------------------------------------------
def test_table_names_and_schemas(pg: Database) -> None:
    engine = sa.create_engine(pg.url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS results"))
    names = {"task": "my_tasks", "group": "my_groups", "chord": "my_chords"}
    store = SqlBackend.from_url("db+" + pg.url, _options(
        table_names=names, table_schemas={"task": "results", "group": "results"}))
    try:
        store.store([_done("t")])
        store.save_group("g", (("g", None), []))
        inspector = sa.inspect(engine)
        assert {"my_tasks", "my_groups"} <= set(inspector.get_table_names(schema="results"))
        assert {"my_chords", "my_chords_parts"} <= set(inspector.get_table_names())
        assert "celery_taskmeta" not in inspector.get_table_names()
    finally:
        store.close()
        engine.dispose()


def test_engine_options_and_callback(tmp_path: Path) -> None:
    CALLED.clear()
    store = _sqlite(tmp_path, engine_callback=f"{__name__}.record_engine",
                    engine_options={"echo": False})
    assert [store.holder.engine] == CALLED
    store.close()
    with pytest.raises(ImproperlyConfigured, match="callable"):
        _sqlite(tmp_path, engine_callback=42)


def test_short_lived_sessions_use_a_connection_per_operation(tmp_path: Path) -> None:
    store = _sqlite(tmp_path, short_lived_sessions=True)
    assert isinstance(store.holder.engine.pool, NullPool)
    store.store([_done("t")])
    assert store.get("t").status == states.SUCCESS
    store.close()


def test_tables_wait_for_first_use_without_create_tables_at_setup(tmp_path: Path) -> None:
    store = _sqlite(tmp_path, create_tables_at_setup=False)
    assert not sa.inspect(store.holder.engine).has_table("celery_taskmeta")
    store.store([_done("t")])
    assert sa.inspect(store.holder.engine).has_table("celery_taskmeta")
    store.close()


def test_extended_columns_are_added_to_an_older_table(tmp_path: Path) -> None:
    """A table made without ``result_extended`` gets the nullable columns, as Celery does."""
    url = f"db+sqlite:///{tmp_path / 'old.db'}"
    SqlBackend.from_url(url, BackendOptions()).close()
    store = SqlBackend.from_url(url, BackendOptions(extended=True))
    columns = {c["name"] for c in sa.inspect(store.holder.engine).get_columns("celery_taskmeta")}
    assert {"name", "args", "kwargs", "worker", "retries", "queue", "stamps"} <= columns
    extended = {"name": "a.b", "args": [1], "kwargs": {"k": 2}, "worker": "w", "retries": 0,
                "queue": "q"}
    store.store([ResultMeta("t", states.SUCCESS, 3, date_done=now_iso(), extended=extended)])
    assert store.get("t").extended == extended
    store.close()


def test_cleanup_deletes_expired_rows(tmp_path: Path) -> None:
    store = SqlBackend.from_url(f"db+sqlite:///{tmp_path / 'r.db'}", BackendOptions(expires=60))
    old = ResultMeta("old", states.SUCCESS, 1, date_done="2020-01-01T00:00:00+00:00")
    store.store([old, _done("new")])
    store.cleanup()
    with store.holder.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT task_id FROM celery_taskmeta")).scalars().all()
    assert left == ["new"]
    store.close()


# -- Celery's layout and legacy rows ------------------------------------------------------
def test_rows_hold_celerys_encoding(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    store.store([ResultMeta("t", states.SUCCESS, {"a": [1]}, children=[],
                            date_done=now_iso())])
    store.save_group("g", (("g", None), [(("t", None), None)]))
    with store.holder.engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT status, result, children, date_done FROM celery_taskmeta")).one()
        group = conn.execute(sa.text("SELECT result FROM celery_tasksetmeta")).scalar()
    assert (row[0], bytes(row[1]), bytes(row[2])) == ("SUCCESS", json_dumps({"a": [1]}), b"[]")
    assert row[3] is not None and group is not None
    assert bytes(group) == json_dumps([["g", None], [[["t", None], None]]])
    store.close()


def _write_raw(store: SqlBackend, task_id: str, result: bytes) -> None:
    with store.holder.engine.begin() as conn:
        conn.execute(sa.insert(store.tables.task).values(
            task_id=task_id, status=states.SUCCESS, result=result))


def test_legacy_pickled_rows_are_read_as_plain_values_only(tmp_path: Path) -> None:
    """Celery before 5.7 pickled every result (PickleType): plain values read back; anything
    that would build another object is refused unless pickle is accepted."""
    store = _sqlite(tmp_path)
    _write_raw(store, "plain", pickle.dumps({"n": [1, 2.5, "x", None, True, b"raw"]}))
    _write_raw(store, "object", pickle.dumps({"ratio": Fraction(1, 3)}))
    assert store.get("plain").result == {"n": [1, 2.5, "x", None, True, b"raw"]}
    with pytest.raises(ContentDisallowed, match=r"fractions\.Fraction"):
        store.get("object")
    store.close()
    trusting = SqlBackend.from_url(f"db+sqlite:///{tmp_path / 'r.db'}",
                                   BackendOptions(accept=("json", "pickle")))
    assert trusting.get("object").result == {"ratio": Fraction(1, 3)}
    trusting.close()


# -- concurrency ----------------------------------------------------------------------------
def test_racing_writers_never_overwrite_a_success(pg: Database) -> None:
    stores = [SqlBackend.from_url("db+" + pg.url, BackendOptions()) for _ in range(4)]
    task_ids = [uuid.uuid4().hex for _ in range(20)]

    def write(store: SqlBackend, status: str) -> None:
        for task_id in task_ids:
            store.store([_done(task_id, status, status)])

    statuses = [states.SUCCESS, states.STARTED, states.RETRY, states.FAILURE]
    threads = [threading.Thread(target=write, args=pair)
               for pair in zip(stores, statuses, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {m.status for m in stores[0].get_many(task_ids)} == {states.SUCCESS}
    for store in stores:
        store.close()


def test_an_app_resolves_db_urls_with_its_database_settings(tmp_path: Path) -> None:
    app = Celery("sqlsettings", broker="memory://",
                 backend=f"db+sqlite:///{tmp_path / 'app.db'}", set_as_current=False)
    app.conf.database_table_names = {"task": "app_tasks"}
    store = app.backend
    assert isinstance(store, SqlBackend) and store.tables.task.name == "app_tasks"
    app.close()
    by_alias = Celery("sqlalias", broker="memory://", backend="database", set_as_current=False)
    by_alias.conf.database_url = f"sqlite:///{tmp_path / 'alias.db'}"
    assert isinstance(by_alias.backend, SqlBackend)
    by_alias.close()


def test_default_table_names_are_celerys() -> None:
    tables = sql_tables.define()
    assert (tables.task.name, tables.group.name) == ("celery_taskmeta", "celery_tasksetmeta")


def test_transport_options_are_reported_as_unused_by_the_sql_store(
        caplog: pytest.LogCaptureFixture) -> None:
    """Celery's database backend reads no ``result_backend_transport_options``: saying so."""
    from celeriac.config.options import backend_options

    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    conf = {"result_backend_transport_options": {"sql_only_key": 1},
            "database_table_names": {"task": "t"}}
    options = backend_options(_Conf(conf), None, "db+postgresql://h/db")
    assert options.database.table_names == {"task": "t"}
    assert any("sql_only_key" in r.getMessage() for r in caplog.records)


class _Conf(dict[str, Any]):
    """The ``conf.get`` that ``backend_options`` reads."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, default)
