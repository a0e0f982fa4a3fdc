"""A custom scheduler written for Celery, run by ``celeriac beat -S module:Class``.

The scheduler below is the usual shape of a Celery project's one (entries read from somewhere
else, re-read in ``tick`` when that changes, ``reserve``/``apply_async`` overridden for
bookkeeping, ``info`` for the banner); only its imports were changed from ``celery`` to
``celeriac``. A real worker runs what it sends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery({name!r}, broker="sqlite:///" + os.path.join(HERE, "broker.db"))


@app.task
def record(word):
    with open(os.path.join(HERE, "runs.txt"), "a") as fh:
        fh.write(word + "\\n")
"""

SCHEDULER_SOURCE = '''
import json
import os

from celeriac.beat import ScheduleEntry, Scheduler
from celeriac.schedules import schedule


class JSONEntry(ScheduleEntry):
    """Entries that remember where they came from."""

    source = "json"


class JSONFileScheduler(Scheduler):
    """Reads the periodic tasks from schedule.json and re-reads it when it changes."""

    Entry = JSONEntry
    max_interval = 1  # look at the file every second

    def __init__(self, *args, **kwargs):
        self._mtime = None
        self.path = os.path.join(os.getcwd(), "schedule.json")
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        super().setup_schedule()
        self._load()

    def _load(self):
        with open(self.path) as fh:
            spec = json.load(fh)
        self._mtime = os.stat(self.path).st_mtime
        self.merge_inplace({
            name: {"task": item["task"], "schedule": schedule(item["every"]),
                   "args": item["args"]}
            for name, item in spec.items()
        })

    def tick(self, *args, **kwargs):
        if os.stat(self.path).st_mtime != self._mtime:
            self._load()
        return super().tick(*args, **kwargs)

    def reserve(self, entry):
        new_entry = super().reserve(entry)
        with open("reserved.txt", "a") as fh:
            fh.write(f"{new_entry.name} {new_entry.total_run_count} {type(new_entry).__name__}\\n")
        return new_entry

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        with open("applied.txt", "a") as fh:
            fh.write(entry.name + "\\n")
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)

    @property
    def info(self):
        return "    . json -> " + self.path
'''


def write_schedule(path: Path, name: str, word: str) -> None:
    spec = {"say": {"task": f"{name}.record", "every": 0.5, "args": [word]}}
    path.write_text(json.dumps(spec))


def test_a_celery_style_scheduler_subclass_runs_under_celeriac_beat(tmp_path: Path) -> None:
    name = unique_name("celerysched")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    (tmp_path / "jsonsched.py").write_text(SCHEDULER_SOURCE)
    write_schedule(tmp_path / "schedule.json", name, "first")
    runs = tmp_path / "runs.txt"

    def words() -> list[str]:
        return runs.read_text().split() if runs.exists() else []

    with running_worker(tmp_path, "-A", name, "worker", "-l", "INFO", "-c", "1") as worker, \
            running_worker(tmp_path, "-A", name, "beat", "-S", "jsonsched:JSONFileScheduler",
                           "-s", str(tmp_path / "beat-state.db"), "-l", "INFO",
                           name="beat") as beat:
        wait_until(lambda: words().count("first") >= 2, 30, message="two runs of the entry")
        time.sleep(1.1)  # a new mtime for the file, whatever the filesystem's resolution
        write_schedule(tmp_path / "schedule.json", name, "second")
        wait_until(lambda: "second" in words(), 30, message="the changed file to be re-read")
        assert worker.process.poll() is None
        assert "jsonsched.JSONFileScheduler" in beat.log()
        assert ". json -> " in beat.log()
        assert "maxinterval -> 1s" in beat.log()

    reserved = (tmp_path / "reserved.txt").read_text().splitlines()
    counts = [int(line.split()[1]) for line in reserved]
    assert counts[:2] == [1, 2], reserved
    assert all(line.endswith("JSONEntry") for line in reserved)
    assert len((tmp_path / "applied.txt").read_text().split()) >= len(reserved)
