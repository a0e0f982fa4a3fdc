"""Canvas interop with real Celery 5.7 on Redis (broker db 2, results db 3), both directions.

A chain of three, ``a | b``, a group of five and a chord of five into a sum:

1. sent by a Celery client, run by a celeriac worker (Celery reads the results);
2. sent by a celeriac client, run by a Celery worker (celeriac reads the results).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(2)
RESULTS = suite_redis_url(3)

TASKS = """
@app.task(name="proj.add")
def add(x, y):
    return x + y


@app.task(name="proj.mul")
def mul(x, y):
    return x * y


@app.task(name="proj.xsum")
def xsum(values):
    return sum(values)
"""

CELERIAC_APP = """
from celeriac import Celery
app = Celery({name!r}, broker={broker!r}, backend={results!r})
""" + TASKS

CELERY_APP = """
from celery import Celery
app = Celery({name!r}, broker={broker!r}, backend={results!r})
app.conf.update(worker_hijack_root_logger=False)
""" + TASKS


@pytest.fixture
def dbs() -> Iterator[None]:
    with flushed_redis(BROKER), flushed_redis(RESULTS):
        yield


def _workflows(app: Any, canvas: Any) -> None:
    """The four workflows, built with either library's canvas, checked through its results."""
    sig = app.signature
    chain_res = canvas.chain(sig("proj.add", (1, 2)), sig("proj.add", (3,)),
                             sig("proj.mul", (10,))).apply_async()
    assert chain_res.get(timeout=30) == 60
    assert chain_res.parent.get(timeout=30) == 6
    assert (sig("proj.add", (2, 2)) | sig("proj.mul", (5,))).apply_async().get(timeout=30) == 20
    group_res = canvas.group(sig("proj.add", (i, i)) for i in range(5)).apply_async()
    assert group_res.get(timeout=30) == [0, 2, 4, 6, 8]
    chord_res = canvas.chord([sig("proj.add", (i, i)) for i in range(5)],
                             sig("proj.xsum")).apply_async()
    assert chord_res.get(timeout=30) == 20


def test_celery_client_celeriac_worker(tmp_path: Path, dbs: None) -> None:
    name = unique_name("canvas_celeriac_worker")
    source = CELERIAC_APP.format(name=name, broker=BROKER, results=RESULTS)
    (tmp_path / f"{name}.py").write_text(source)
    client = celery.Celery("client", broker=BROKER, backend=RESULTS, set_as_current=False)
    try:
        with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "4"):
            _workflows(client, celery)
    finally:
        close_celery_app(client)


def test_celeriac_client_celery_worker(tmp_path: Path, dbs: None) -> None:
    import celeriac.canvas as canvas

    celery_name = unique_name("canvas_celery_worker")
    (tmp_path / f"{celery_name}.py").write_text(
        CELERY_APP.format(name=celery_name, broker=BROKER, results=RESULTS))
    client_name = unique_name("canvas_celeriac_client")
    (tmp_path / f"{client_name}.py").write_text(
        CELERIAC_APP.format(name=client_name, broker=BROKER, results=RESULTS))
    mod = import_app_module(tmp_path, client_name)
    log = open(tmp_path / "celery.log", "wb")  # noqa: SIM115 - closed in finally
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", celery_name, "worker", "-P", "threads", "-c", "4",
         "--without-mingle", "--without-gossip", "-l", "info"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"},
    )
    try:
        _workflows(mod.app, canvas)  # type: ignore[attr-defined]
    except BaseException:
        sys.stderr.write((tmp_path / "celery.log").read_text(errors="replace"))
        raise
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        log.close()
