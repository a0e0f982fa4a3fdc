"""``Task.replace`` and ``add_to_chord`` against real Celery 5.7 on Redis.

The scenarios of ``tests/integration/replace_project.py`` (replace in every position,
``add_to_chord``, a failing chord header, ids fixed by ``freeze()``) give their expectations
with a Celery client and a Celery worker (the reference), and the same with either side
swapped for celeriac: the replacement messages (frozen ids, chord options, ``celery.accumulate``,
``replaced_task_nesting``) and the chord growth (``<gid>.t``) are understood both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from tests.integration import replace_project
from tests.integration.celery_worker import WAKEUP, celery_worker
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
    source = replace_project.SOURCE.format(lib=lib, name=name, broker=BROKER, results=RESULTS,
                                           extra=CELERY_EXTRA if lib == "celery" else "")
    (workdir / f"{name}.py").write_text(source + (WAKEUP if lib == "celery" else ""))
    return name


@contextmanager
def _worker(workdir: Path, lib: str) -> Iterator[Any]:
    module = _module(workdir, lib)
    if lib == "celery":
        with celery_worker(workdir, module, "celery") as worker:
            yield worker
    else:
        with running_worker(workdir, "-A", module, "worker", "-P", "threads", "-c", "4") as worker:
            yield worker


@pytest.mark.parametrize(("client_lib", "worker_lib"), [
    ("celery", "celery"),  # the reference: the expectations are Celery's own
    ("celery", "celeriac"),
    ("celeriac", "celery"),
])
def test_replace_add_to_chord_chord_failure_and_frozen_ids(
        workdir: Path, client_lib: str, worker_lib: str) -> None:
    import celeriac.canvas

    client: Any = import_app_module(workdir, _module(workdir, client_lib))
    try:
        with _worker(workdir, worker_lib):
            replace_project.check_all(client.app,
                                      celery if client_lib == "celery" else celeriac.canvas)
    finally:
        if client_lib == "celery":
            close_celery_app(client.app)
