"""Flags accepted for Celery compatibility that do nothing say so: banner and log warning."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.cli.inert_flags import inert_flag_notes
from tests.helpers import CELERIAC, running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery

app = Celery({name!r}, broker="sqlite:///" + os.path.join(os.path.dirname(__file__), "b.db"))
"""

INERT = ("-O", "fair", "--without-mingle", "--max-tasks-per-child", "5",
         "-s", "schedule.db")


def test_every_inert_flag_is_named_in_the_banner_and_warned_in_the_log(tmp_path: Path) -> None:
    name = unique_name("inert")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    args = ("-A", name, "worker", "-P", "threads", "-l", "INFO", "-E", "--without-heartbeat",
            "--without-gossip", *INERT)
    with running_worker(tmp_path, *args) as worker:
        wait_until(lambda: "ready." in worker.log(), 30, message="the worker to start")
        log = worker.log()
    banner, _, rest = log.partition("[ignored options]")
    assert "task events: ON" in banner
    for flag in ("-O fair", "--without-mingle", "--max-tasks-per-child",
                 "-s/--schedule-filename"):
        assert f"  ! {flag}:" in rest, flag
        assert f"WARNING/MainProcess] Ignored option {flag}:" in rest, flag
    for acted_on in ("-E", "--without-heartbeat", "--without-gossip"):  # they work: not listed
        assert f"Ignored option {acted_on}" not in rest


def test_a_plain_worker_has_no_ignored_options(tmp_path: Path) -> None:
    name = unique_name("inert")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-l", "INFO") as worker:
        wait_until(lambda: "ready." in worker.log(), 30, message="the worker to start")
        assert "ignored options" not in worker.log().lower()
        assert "task events: OFF (enable -E to monitor tasks in this worker)" in worker.log()


@pytest.mark.parametrize(("flags", "pool", "expected"), [
    ({"max_memory_per_child": 1000}, "solo", ["--max-memory-per-child"]),
    ({"max_memory_per_child": 1000, "max_tasks_per_child": 3}, "prefork", []),
    ({"concurrency": 4}, "solo", ["-c/--concurrency 4"]),
    ({"concurrency": 4}, "threads", []),
    ({"schedule_filename": "s.db", "beat": True}, "prefork", []),
    ({"optimization": "default"}, "prefork", ["-O default"]),
    ({"concurrency": 4, "autoscale": "6,2"}, "prefork", ["-c/--concurrency 4"]),
    ({"autoscale": "6,2"}, "prefork", []),
])
def test_flags_are_inert_only_where_they_do_nothing(flags: dict[str, object], pool: str,
                                                    expected: list[str]) -> None:
    notes = inert_flag_notes(flags, pool)
    assert [note.partition(":")[0] for note in notes] == expected


def test_revoke_refuses_a_signal_option(tmp_path: Path) -> None:
    """As ``celery control``: a signal goes with ``terminate <signal> ids``; ``revoke
    --signal`` is a usage error rather than an option accepted and ignored."""
    name = unique_name("inert")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    done = subprocess.run(
        [CELERIAC, "-A", name, "control", "revoke", "--signal", "SIGKILL", "-t", "0.2", "x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    assert "No such option '--signal'" in done.stderr


def test_task_events_and_heartbeat_flags_are_not_inert() -> None:
    app = Celery("inert_setting", broker="memory://")
    app.conf.worker_send_task_events = True
    flags = {"task_events": True, "without_heartbeat": True, "heartbeat_interval": 1.0}
    assert inert_flag_notes(flags, "prefork", app.conf) == []
