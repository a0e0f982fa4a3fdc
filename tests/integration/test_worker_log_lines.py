"""A real worker's log lines in Celery's formats (``worker_log_format``,
``worker_task_log_format``), read back from its ``-f`` log file.

The expected shapes are built from Celery's own default format strings and message templates,
so a drift on either side shows here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.helpers import running_worker, unique_name, wait_until

celery_defaults = pytest.importorskip("celery.app.defaults")
celery_trace = pytest.importorskip("celery.app.trace")

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery
from celeriac.utils.log import get_task_logger

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery({name!r}, broker="sqlite:///" + os.path.join(HERE, "broker.db"),
             backend="sqlite:///" + os.path.join(HERE, "results.db"))
app.conf.update({settings})
logger = get_task_logger(__name__)


@app.task
def add(x, y):
    logger.warning("adding %s and %s", x, y)
    print("printed by the task")
    return x + y
"""


def pattern(fmt: str, **fields: str) -> re.Pattern[str]:
    """A regex for a line printed with logging format ``fmt``; ``fields`` fixes some fields."""
    parts = re.split(r"%\((\w+)\)s", fmt)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        else:
            regex += re.escape(fields[part]) if part in fields else r".+?"
    return re.compile(f"^{regex}$", re.MULTILINE)


def run_one_task(tmp_path: Path, settings: Mapping[str, object]) -> tuple[str, str]:
    """Start a prefork worker logging to a file, run ``add(2, 3)`` once; (log, task id)."""
    name = unique_name("logproj")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name, settings=settings))
    logfile = tmp_path / "worker-file.log"
    with running_worker(tmp_path, "-A", name, "worker", "-l", "INFO", "-c", "1",
                        "-f", str(logfile)) as worker:
        sys.path.insert(0, str(tmp_path))
        try:
            module = __import__(name)
            result = module.add.delay(2, 3)
            assert result.get(timeout=30) == 5
        finally:
            sys.path.remove(str(tmp_path))
        wait_until(lambda: "succeeded" in logfile.read_text(), 10)
        assert "received" not in worker.log()  # everything went to the -f file
    return logfile.read_text(), result.id


def test_worker_and_task_lines_follow_celerys_default_formats(tmp_path: Path) -> None:
    log, task_id = run_one_task(tmp_path, {})
    worker_fmt = celery_defaults.DEFAULTS["worker_log_format"]
    task_fmt = celery_defaults.DEFAULTS["worker_task_log_format"]
    name = re.search(r"Task (\S+)\[", log)
    assert name is not None, log
    task = name.group(1)
    context = {"name": task, "id": task_id}
    expected = [
        pattern(worker_fmt, levelname="INFO", processName="MainProcess",
                message=celery_trace.LOG_RECEIVED % context),
        pattern(task_fmt, levelname="WARNING", processName="ForkPoolWorker-1",
                task_name=task, task_id=task_id, message="adding 2 and 3"),
        pattern(worker_fmt, levelname="WARNING", processName="ForkPoolWorker-1",
                message="printed by the task"),
    ]
    for regex in expected:
        assert regex.search(log), f"{regex.pattern!r} not in:\n{log}"
    success = celery_trace.LOG_SUCCESS % {**context, "runtime": "<t>", "return_value": 5}
    head, tail = (re.escape(part) for part in success.split("<t>"))
    line = pattern(worker_fmt, levelname="INFO", processName="ForkPoolWorker-1", message="<m>")
    runtime = line.pattern.replace(re.escape("<m>"), head + r"[0-9.e-]+" + tail)
    assert re.search(runtime, log, re.MULTILINE), log


def test_custom_formats_and_redirect_level_are_used(tmp_path: Path) -> None:
    settings = {
        "worker_log_format": "W|%(levelname)s|%(processName)s|%(message)s",
        "worker_task_log_format": "T|%(task_name)s|%(task_id)s|%(message)s",
        "worker_redirect_stdouts_level": "INFO",
    }
    log, task_id = run_one_task(tmp_path, settings)
    assert re.search(rf"^T\|\S+\.add\|{task_id}\|adding 2 and 3$", log, re.MULTILINE), log
    assert "W|INFO|ForkPoolWorker-1|printed by the task" in log.splitlines()
    assert re.search(rf"^W\|INFO\|MainProcess\|Task \S+\.add\[{task_id}\] received$", log,
                     re.MULTILINE), log
