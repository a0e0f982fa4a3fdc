"""``Task.replace`` and ``add_to_chord`` against real Celery 5.7 on Redis.

The scenarios of ``tests/integration/replace_project.py`` give ``EXPECTED`` with a Celery
client and a Celery worker (the reference), and the same with either side swapped for
celeriac: the replacement messages (frozen ids, chord options, ``celery.accumulate``,
``replaced_task_nesting``) and the chord growth (``<gid>.t``) are understood both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
)
from tests.integration.celery_worker import WAKEUP, celery_worker
from tests.integration.replace_project import (
    CHORD_FAILURE,
    EXPECTED,
    FROZEN_IDS,
    SOURCE,
    chord_failure,
    frozen_ids,
    scenarios,
)
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(12)
RESULTS = suite_redis_url(13)
CELERY_EXTRA = "app.conf.update(worker_hijack_root_logger=False)"


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    with flushed_redis(BROKER), flushed_redis(RESULTS):
        yield tmp_path


def _module(workdir: Path, lib: str) -> str:
    name = unique_name(f"replace_{lib}")
    source = SOURCE.format(lib=lib, name=name, broker=BROKER, results=RESULTS,
                           extra=CELERY_EXTRA if lib == "celery" else "")
    (workdir / f"{name}.py").write_text(source + (WAKEUP if lib == "celery" else ""))
    return name


def _celery_client(workdir: Path) -> Any:
    mod: Any = import_app_module(workdir, _module(workdir, "celery"))
    return mod.app


def test_celery_reference(workdir: Path) -> None:
    """The expectations are Celery's own: a Celery client and a Celery worker."""
    worker_module = _module(workdir, "celery")
    client = _celery_client(workdir)
    try:
        with celery_worker(workdir, worker_module, "celery"):
            assert scenarios(client, celery) == EXPECTED
            assert chord_failure(client, celery) == CHORD_FAILURE
            assert frozen_ids(client, celery) == FROZEN_IDS
    finally:
        close_celery_app(client)


def test_celery_client_celeriac_worker(workdir: Path) -> None:
    worker_module = _module(workdir, "celeriac")
    client = _celery_client(workdir)
    try:
        with running_worker(workdir, "-A", worker_module, "worker", "-P", "threads", "-c", "4"):
            assert scenarios(client, celery) == EXPECTED
            assert chord_failure(client, celery) == CHORD_FAILURE
            assert frozen_ids(client, celery) == FROZEN_IDS
    finally:
        close_celery_app(client)


def test_celeriac_client_celery_worker(workdir: Path) -> None:
    import celeriac.canvas as canvas

    worker_module = _module(workdir, "celery")
    mod: Any = import_app_module(workdir, _module(workdir, "celeriac"))
    with celery_worker(workdir, worker_module, "celery"):
        assert scenarios(mod.app, canvas) == EXPECTED
        assert chord_failure(mod.app, canvas) == CHORD_FAILURE
        assert frozen_ids(mod.app, canvas) == FROZEN_IDS
