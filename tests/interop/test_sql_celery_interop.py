"""Interop with real Celery 5.7's database backend (``db+postgresql://``,
``db+mysql+pymysql://``), both ways.

* Real Celery reads what a ``celeriac worker`` process stored: a result, a failure (as its
  exception type) and an extended record (name, args, kwargs, worker, queue).
* celeriac reads what Celery's backend stored (``store_result`` with a request, as a Celery
  worker calls it): a result, an exception and an extended record; and a group Celery saved.
* A database whose tables Celery created first: celeriac writes and reads in them, and
  Celery reads that back.

Each test runs on a PostgreSQL and a MariaDB database of its own (``tests/databases.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from celeriac import states
from celeriac.backends import resolve_backend
from celeriac.config.frozen import BackendOptions
from celeriac.protocol.result_meta import ResultMeta, now_iso
from tests.databases import Database, mariadb_database, postgres_database
from tests.helpers import close_celery_app, import_app_module, running_worker, unique_name
from tests.interop.test_redis_celery_interop import TASKS_SOURCE

celery = pytest.importorskip("celery")
pytestmark = [pytest.mark.slow]

#: The Redis interop tests' task module (interop.add, interop.boom...), result_extended on.
TASKS = TASKS_SOURCE + "\napp.conf.result_extended = True\n"


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database of the test's own, on PostgreSQL and on MariaDB (``mysql+pymysql``)."""
    make = postgres_database if request.param == "postgresql" else mariadb_database
    with make("sqlinterop") as db:
        yield db


@pytest.fixture
def celery_app(database: Database) -> Iterator[Any]:
    """A real Celery app whose result backend is the test's database."""
    app = celery.Celery(unique_name("celery_sql"), broker="memory://",
                        backend="db+" + database.url)
    app.conf.result_extended = True
    yield app
    close_celery_app(app)


def _celeriac_store(database: Database, **options: Any) -> Any:
    return resolve_backend("db+" + database.url, BackendOptions(extended=True, **options))


def test_celery_reads_what_a_celeriac_worker_stored(
        database: Database, celery_app: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = unique_name("sqlinterop")
    (tmp_path / f"{name}.py").write_text(TASKS.format(
        import_line="from celeriac import Celery", name=name,
        broker=f"sqlite:///{tmp_path / 'broker.db'}", results="db+" + database.url))
    mod: Any = import_app_module(tmp_path, name)
    try:
        with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-Q", "sqlq"):
            ok = mod.add.apply_async((2, 3), queue="sqlq")
            bad = mod.boom.apply_async(("bad input",), queue="sqlq")
            assert ok.get(timeout=30) == 5
            with pytest.raises(ValueError):
                bad.get(timeout=30)
    finally:
        mod.app.close()
    theirs = celery_app.AsyncResult(ok.id)
    assert (theirs.state, theirs.result) == ("SUCCESS", 5)
    assert (theirs.name, theirs.args, theirs.kwargs) == ("interop.add", [2, 3], {})
    assert theirs.queue == "sqlq" and theirs.worker and theirs.retries == 0
    assert theirs.date_done is not None
    failed = celery_app.AsyncResult(bad.id)
    assert failed.state == "FAILURE"
    assert isinstance(failed.result, ValueError) and "bad input" in str(failed.result)
    assert "ValueError" in (failed.traceback or "")


def _request(task_id: str, **fields: Any) -> SimpleNamespace:
    """The request attributes Celery's backend reads when a Celery worker stores a result."""
    return SimpleNamespace(id=task_id, task="interop.add", args=[20, 22], kwargs={"z": 1},
                           hostname="celery@host", retries=1, group=None, parent_id=None,
                           delivery_info={"routing_key": "celeryq"}, children=[],
                           ignore_result=False, stamps=None, **fields)


def test_celeriac_reads_what_celery_stored(database: Database, celery_app: Any) -> None:
    backend = celery_app.backend
    ok, bad = uuid.uuid4().hex, uuid.uuid4().hex
    backend.store_result(ok, 42, "SUCCESS", request=_request(ok))
    backend.store_result(bad, KeyError("missing"), "FAILURE", traceback="Traceback: KeyError",
                         request=_request(bad))
    store = _celeriac_store(database)
    try:
        meta, failed = store.get_many([ok, bad])
        assert (meta.status, meta.result) == (states.SUCCESS, 42)
        assert meta.extended == {"name": "interop.add", "args": [20, 22], "kwargs": {"z": 1},
                                 "worker": "celery@host", "retries": 1, "queue": "celeryq"}
        assert meta.date_done is not None and meta.date_done.endswith("+00:00")
        assert failed.status == states.FAILURE
        assert failed.result["exc_type"] == "KeyError"
        assert failed.result["exc_module"] == "builtins"
        assert failed.traceback == "Traceback: KeyError"
        # Celery's SUCCESS is never overwritten by a late record of ours.
        store.store([ResultMeta(ok, states.RETRY)])
        assert store.get(ok).result == 42
        # A group Celery saved is restored by celeriac.
        group = celery_app.GroupResult(uuid.uuid4().hex, [celery_app.AsyncResult(ok)])
        group.save(backend=backend)
        assert store.restore_group(group.id) == [[group.id, None], [[[ok, None], None]]]
    finally:
        store.close()


def test_celeriac_works_in_a_database_celery_created(
        database: Database, celery_app: Any) -> None:
    """Celery makes its tables (and sequences) first; celeriac writes and reads in them,
    and Celery reads what celeriac wrote."""
    plain = celery.Celery(unique_name("celery_plain"), broker="memory://",
                          backend="db+" + database.url)
    try:
        first = uuid.uuid4().hex
        plain.backend.store_result(first, {"from": "celery"}, "SUCCESS")
    finally:
        close_celery_app(plain)
    store = _celeriac_store(database)
    try:
        assert store.get(first).result == {"from": "celery"}
        mine = uuid.uuid4().hex
        store.store([ResultMeta(mine, states.SUCCESS, [1, "two"], date_done=now_iso(),
                                extended={"name": "x.y", "args": [1], "kwargs": {},
                                          "worker": "w", "retries": 0, "queue": "q"})])
        store.save_group("g-" + mine, ((("g-" + mine), None), [((mine, None), None)]))
    finally:
        store.close()
    theirs = celery_app.AsyncResult(mine)
    assert (theirs.result, theirs.name, theirs.args) == ([1, "two"], "x.y", [1])
    restored = celery_app.GroupResult.restore("g-" + mine)
    assert [r.id for r in restored.results] == [mine]


def test_celery_reads_compressed_values_celeriac_wrote(
        database: Database, celery_app: Any) -> None:
    store = _celeriac_store(database, compression="gzip")
    try:
        task_id = uuid.uuid4().hex
        store.store([ResultMeta(task_id, states.SUCCESS, {"big": "x" * 1000},
                                date_done=now_iso())])
        raw = store.raw_result(task_id)
        assert raw is not None and raw.startswith(b"\x00celery-compressed\x00")
    finally:
        store.close()
    assert celery_app.AsyncResult(task_id).result == {"big": "x" * 1000}
