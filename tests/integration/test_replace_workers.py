"""``Task.replace`` and ``add_to_chord`` with real ``celeriac worker`` processes, on Redis (the
suite's own server) and on SQLite (broker and results in ``tmp_path``).

The replacement takes the replaced task's place in every position (alone, in a chain, in a
group, in a chord header; replaced by a task, a group or a chain), and ``add_to_chord`` grows
a running chord, as in Celery 5.7; ``tests/interop/test_replace_celery_interop.py`` runs the
same scenarios against a real Celery worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import ChordError
from tests.helpers import flushed_redis, import_app_module, running_worker, unique_name
from tests.integration import replace_project as rp
from tests.suite_redis import suite_redis_url

pytestmark = [pytest.mark.slow]
BROKER = suite_redis_url(12)
RESULTS = suite_redis_url(13)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "sqlite"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str, Any]]:
    name = unique_name("replace")
    on_redis = request.param == "redis"
    broker = BROKER if on_redis else f"sqlite:///{tmp_path}/broker.db"
    results = RESULTS if on_redis else f"sqlite:///{tmp_path}/results.db"
    source = rp.SOURCE.format(lib="celeriac", name=name, broker=broker, results=results,
                              extra="")
    (tmp_path / f"{name}.py").write_text(source)
    with contextlib.ExitStack() as stack:
        if on_redis:
            stack.enter_context(flushed_redis(BROKER))
            stack.enter_context(flushed_redis(RESULTS))
        yield tmp_path, name, import_app_module(tmp_path, name)


def test_replace_and_add_to_chord(project: tuple[Path, str, Any]) -> None:
    import celeriac.canvas as canvas

    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        assert rp.scenarios(mod.app, canvas) == rp.EXPECTED


def test_chord_header_failure_raises_the_task_exception(project: tuple[Path, str, Any]) -> None:
    """As Celery 5.7: ``get()`` follows the body's parents and raises the failed header
    task's own exception; the body itself holds ``ChordError`` (seen without the parents)."""
    import celeriac.canvas as canvas

    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        assert rp.chord_failure(mod.app, canvas) == rp.CHORD_FAILURE
        failing = canvas.chord([mod.add.s(1, 1), mod.boom.s()], mod.xsum.s())()
        with pytest.raises(ChordError, match=r"Dependency .* raised ZeroDivisionError"):
            failing.get(timeout=rp.T, follow_parents=False)
        assert isinstance(failing.get(timeout=rp.T, propagate=False), ChordError)


def test_frozen_ids_are_kept(project: tuple[Path, str, Any]) -> None:
    import celeriac.canvas as canvas

    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        assert rp.frozen_ids(mod.app, canvas) == rp.FROZEN_IDS


def test_generator_header_streams_to_workers(project: tuple[Path, str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator-fed chord header is sent in batches (3 here) while it is read; parts that
    finish before the chord is sized (before its last batch) still count."""
    import importlib

    from celeriac.canvas import chord

    monkeypatch.setattr(importlib.import_module("celeriac.canvas.group"), "STREAM_BATCH", 3)
    workdir, name, mod = project
    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        result = chord((mod.add.s(i, i) for i in range(10)), mod.xsum.s()).apply_async()
        assert result.get(timeout=rp.T) == 90
        assert result.parent.get(timeout=rp.T) == [i * 2 for i in range(10)]
