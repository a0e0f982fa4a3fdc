"""Issue 15, Task behaviour across the broker: real ``celeriac worker`` processes on the
embedded SQLite default (broker and result store in ``tmp_path``).

``Reject``/``Ignore`` as Celery's worker handles them, ``throws`` logged at INFO without a
traceback, ``retry()``'s argument merge, ``track_started`` (setting and per task) beside
``update_state``, and ``self.request``'s Celery attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from celeriac.exceptions import Reject
from tests.helpers import import_app_module, running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
import json, os
from celeriac import Celery
from celeriac.exceptions import Ignore, Reject

app = Celery({name!r})
HERE = os.path.dirname(os.path.abspath(__file__))


class Expected(Exception):
    pass


@app.task(name="e.reject")
def reject(requeue):
    marker = os.path.join(HERE, "rejected")
    if requeue and not os.path.exists(marker):
        open(marker, "w").close()
        raise Reject("once more", requeue=True)
    if requeue:
        return "ran again"
    raise Reject("never", requeue=False)


@app.task(name="e.ignore", track_started=False)
def ignore():
    open(os.path.join(HERE, "ignored"), "w").close()
    raise Ignore()


@app.task(name="e.expected", throws=(Expected,))
def expected():
    raise Expected("planned failure")


@app.task(name="e.merge", bind=True, default_retry_delay=0)
def merge(self, a, b=0, c=0):
    if self.request.retries == 0:
        raise self.retry(args=(10,))
    return [a, b, c, self.request.retries]


def _wait_for(path):
    import time
    while not os.path.exists(path):
        time.sleep(0.05)


@app.task(name="e.progress", bind=True, track_started=True)
def progress(self, go, release):
    _wait_for(go)
    self.update_state(state="PROGRESS", meta={{"done": 1}})
    _wait_for(release)
    return "finished"


@app.task(name="e.by_setting", bind=True)
def by_setting(self, release):
    _wait_for(release)
    return "finished"


@app.task(name="e.untracked", bind=True, track_started=False)
def untracked(self, running, release):
    open(running, "w").close()
    _wait_for(release)
    return "finished"


app.conf.task_track_started = True


@app.task(name="e.request", bind=True)
def request(self):
    r = self.request
    return {{"time_limit": r.time_limit, "soft_time_limit": r.soft_time_limit,
             "ignore_result": r.ignore_result, "nesting": r.replaced_task_nesting,
             "stamps": r.stamps, "has_properties": isinstance(r.properties, dict),
             "correlation_id": r.properties.get("correlation_id")}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    monkeypatch.chdir(tmp_path)
    name = unique_name("taskapi")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    return name, import_app_module(tmp_path, name)


def test_reject_ignore_and_throws_as_celerys_worker(project: tuple[str, Any],
                                                    tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "prefork", "-c", "1",
                        "-l", "info") as worker:
        rejected = mod.reject.delay(False)
        with pytest.raises(Reject):
            rejected.get(timeout=30)
        assert rejected.state == states.FAILURE
        assert mod.reject.delay(True).get(timeout=30) == "ran again"

        ignored = mod.ignore.delay()
        wait_until((tmp_path / "ignored").exists, 30, message="the ignored task to run")
        with pytest.raises(mod.Expected):
            mod.expected.delay().get(timeout=30)
        wait_until(lambda: "raised expected" in worker.log(), 10, message="the INFO line")
        assert ignored.state == states.PENDING
        log = worker.log()
    expected_lines = [line for line in log.splitlines() if "planned failure" in line]
    assert expected_lines and all("INFO" in line for line in expected_lines)
    assert "raised expected: Expected('planned failure')" in log
    assert "Traceback" not in log.split("raised expected", 1)[1].split("\n", 2)[1]
    assert f"{ignored.id}] ignored" in log
    channel = mod.app.transport.channel()
    letters = channel.dead_letters()  # set aside before the worker stopped
    channel.close()
    assert any(rejected.id.encode() in letter.payload for letter in letters)


def test_retry_merge_and_request_attributes(project: tuple[str, Any], tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads"):
        assert mod.merge.apply_async((1,), {"b": 2, "c": 3}).get(timeout=30) == [10, 2, 3, 1]
        seen = mod.request.apply_async(time_limit=30, soft_time_limit=20).get(timeout=30)
    assert seen == {"time_limit": 30, "soft_time_limit": 20, "ignore_result": False,
                    "nesting": 0, "stamps": {}, "has_properties": True,
                    "correlation_id": seen["correlation_id"]}
    assert seen["correlation_id"]


def test_track_started_per_task_and_setting(project: tuple[str, Any], tmp_path: Path) -> None:
    name, mod = project
    go, release, running = (str(tmp_path / n) for n in ("go", "release", "running"))
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "3"):
        tracked = mod.progress.delay(go, release)
        by_setting = mod.by_setting.delay(release)
        untracked = mod.untracked.delay(running, release)
        wait_until(lambda: tracked.state == states.STARTED, 30, message="STARTED")
        assert tracked.info["pid"] > 0 and tracked.info["hostname"]
        wait_until(lambda: by_setting.state == states.STARTED, 30,
                   message="STARTED from task_track_started")
        Path(go).touch()
        wait_until(lambda: tracked.state == "PROGRESS", 30, message="PROGRESS")
        assert tracked.info == {"done": 1}
        wait_until(Path(running).exists, 30, message="the untracked task to run")
        assert untracked.state == states.PENDING  # track_started=False beats the setting
        Path(release).touch()
        assert [r.get(timeout=30) for r in (tracked, by_setting, untracked)] == [
            "finished"] * 3
