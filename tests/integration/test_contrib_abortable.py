"""``celeriac.contrib.abortable``: a real worker runs a long task that polls ``is_aborted()``
and stops once the client aborts it; the ``ABORTED`` record is the one Celery writes and reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.contrib.abortable import ABORTED, AbortableAsyncResult, AbortableTask
from tests.helpers import (
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.suite_redis import suite_redis_url

APP_SOURCE = """
import os
import time
from celeriac import Celery
from celeriac.contrib.abortable import AbortableTask

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery({name!r}, broker="sqlite:///" + os.path.join(HERE, "broker.db"),
             backend="sqlite:///" + os.path.join(HERE, "results.db"))


@app.task(bind=True, base=AbortableTask, name="proj.long")
def long_task(self):
    open(os.path.join(HERE, "started"), "w").close()
    for _ in range(3000):
        if self.is_aborted():
            return "aborted"
        time.sleep(0.02)
    return "ran to the end"
"""


@pytest.mark.slow
def test_worker_task_stops_after_client_aborts(tmp_path: Path) -> None:
    name = unique_name("abortproj")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    module: Any = import_app_module(tmp_path, name)
    with running_worker(tmp_path, "-A", name, "worker", "-l", "INFO", "-c", "1"):
        result = module.long_task.delay()
        assert isinstance(result, AbortableAsyncResult)
        wait_until((tmp_path / "started").exists, 30, message="the task to start")
        assert not result.is_aborted()
        result.abort()
        assert result.get(timeout=30) == "aborted"


def test_abort_stores_the_aborted_state_and_is_aborted_reads_it() -> None:
    app = Celery("abortable", broker="memory://abortable", backend="cache+memory://abortable",
                 set_as_current=False)

    @app.task(bind=True, base=AbortableTask, name="proj.abortable")
    def job(self: AbortableTask) -> bool:
        return self.is_aborted()

    assert isinstance(job, AbortableTask)

    handle = job.AsyncResult("some-id")
    assert isinstance(handle, AbortableAsyncResult)
    assert not handle.is_aborted()
    handle.abort()
    assert handle.state == ABORTED
    assert job.is_aborted(task_id="some-id")
    assert not job.is_aborted(task_id="another-id")
    assert job() is False  # called directly: no stored state, not aborted


@pytest.mark.redis
def test_aborts_cross_between_celery_and_celeriac_on_one_redis_store() -> None:
    celery_abortable = pytest.importorskip("celery.contrib.abortable")
    import celery

    url = suite_redis_url(13)
    with flushed_redis(url):
        ours = Celery("abortable", broker="memory://abortable-x", backend=url,
                      set_as_current=False)
        theirs = celery.Celery("abortable", broker="memory://", backend=url,
                               set_as_current=False)
        try:
            celery_abortable.AbortableAsyncResult("from-celery", app=theirs).abort()
            assert AbortableAsyncResult("from-celery", app=ours).is_aborted()
            AbortableAsyncResult("from-celeriac", app=ours).abort()
            assert celery_abortable.AbortableAsyncResult("from-celeriac", app=theirs).is_aborted()
            assert theirs.backend.get_task_meta("from-celeriac")["status"] == ABORTED
        finally:
            ours.close()
            close_celery_app(theirs)
