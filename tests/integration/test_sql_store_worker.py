"""A real ``celeriac worker`` process storing results in PostgreSQL (``db+postgresql://``):
plain results, a failure, ``result_extended``, a saved group and chords joined in SQL.

The broker is a SQLite file in ``tmp_path``; the results go to a database of this module's
own (``tests/databases.py``), in Celery's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from celeriac.canvas import chord, group
from celeriac.exceptions import ChordError
from tests.databases import Database, postgres_database
from tests.helpers import import_app_module, running_worker, unique_name
from tests.integration.test_canvas_redis import APP_SOURCE

pytestmark = [pytest.mark.slow]

#: The canvas tests' task module (add, xsum, boom...), with ``result_extended`` on.
TASKS = APP_SOURCE + "\napp.conf.result_extended = True\n"


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with postgres_database("sqlworker") as db:
        yield db


@pytest.fixture
def project(database: Database, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str, Any]]:
    monkeypatch.chdir(tmp_path)
    name = unique_name("sqlproj")
    source = TASKS.format(name=name, broker=f"sqlite:///{tmp_path / 'broker.db'}",
                          results="db+" + database.url)
    (tmp_path / f"{name}.py").write_text(source)
    mod: Any = import_app_module(tmp_path, name)
    yield tmp_path, name, mod
    mod.app.close()


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_worker_stores_results_groups_and_chords_in_postgresql(
        project: tuple[Path, str, Any], database: Database, pool: str) -> None:
    """With prefork, each child makes its own engine after the fork (``sql/engine.py``)."""
    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", pool, "-c", "4"):
        result = mod.add.delay(2, 3)
        assert result.get(timeout=30) == 5
        assert (result.name, result.args, result.kwargs) == ("proj.add", [2, 3], {})
        failed = mod.boom.delay()
        with pytest.raises(ValueError, match="boom"):
            failed.get(timeout=30)
        grp = group(mod.add.s(i, i) for i in range(4)).apply_async()
        assert grp.get(timeout=30) == [0, 2, 4, 6]
        grp.save()
        restored = grp.restore(str(grp.id), app=mod.app)
        assert restored is not None and restored.get(timeout=30) == [0, 2, 4, 6]
        assert chord(mod.add.s(i, i) for i in range(5))(mod.xsum.s()).get(timeout=30) == 20
        failing = chord([mod.add.s(1, 1), mod.boom.s()], mod.xsum.s())()
        with pytest.raises(ChordError):
            failing.get(timeout=30, follow_parents=False)
    engine = sa.create_engine(database.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT status, name, worker FROM celery_taskmeta WHERE task_id = :id"),
                {"id": result.id}).one()
            assert row[0] == "SUCCESS" and row[1] == "proj.add" and row[2]
            assert conn.execute(sa.text(
                "SELECT count(*) FROM celery_tasksetmeta WHERE taskset_id = :id"),
                {"id": str(grp.id)}).scalar() == 1
            # The chord counters were used and their parts removed when the bodies fired.
            assert (conn.execute(sa.text("SELECT count(*) FROM celeriac_chord")).scalar()
                    or 0) >= 2
            assert conn.execute(sa.text(
                "SELECT count(*) FROM celeriac_chord_parts")).scalar() == 0
    finally:
        engine.dispose()
