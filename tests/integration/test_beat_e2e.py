"""Beat end to end: real ``celeriac beat`` and ``celeriac worker`` processes on a SQLite broker.

Send times come from beat's own log lines ("Scheduler: Sending due task ..."), runs from a file
the task appends to. Bounds on send times are generous (about a second) and only separate the
behaviours under test (catch-up once vs. per missed interval, kept phase vs. restarted phase).
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from celeriac.beat.embedded import BeatService
from tests.helpers import WorkerProcess, import_app_module, running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery({name!r}, broker="sqlite:///" + os.path.join(HERE, "broker.db"))
app.conf.beat_schedule = {{
    "tick": {{"task": {name!r} + ".record", "schedule": {interval!r},
              "args": ("hello",), "kwargs": {{"n": 42}}}},
}}


@app.task
def record(word, n):
    with open(os.path.join(HERE, "runs.txt"), "a") as fh:
        fh.write(f"{{word}} {{n}}\\n")
"""

_LINE = re.compile(r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]*\] (?P<msg>.*)$")


def make_project(tmp_path: Path, interval: float) -> str:
    name = unique_name("beatproj")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name, interval=interval))
    return name


def log_times(process: WorkerProcess, message: str) -> list[float]:
    """Epoch times of the log lines of ``process`` whose message starts with ``message``."""
    times = []
    for line in process.log().splitlines():
        match = _LINE.match(line)
        if match and match["msg"].startswith(message):
            at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
            times.append(at.timestamp())
    return times


def sends(process: WorkerProcess) -> list[float]:
    return log_times(process, "Scheduler: Sending due task tick")


def started(process: WorkerProcess) -> float:
    wait_until(lambda: log_times(process, "beat: starting"), 30, message="beat to start")
    return log_times(process, "beat: starting")[0]


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def beat_args(name: str, *extra: str) -> tuple[str, ...]:
    return ("-A", name, "beat", "-l", "INFO", *extra)


def test_one_second_schedule_runs_three_times_in_five_seconds_with_its_args(
    tmp_path: Path,
) -> None:
    name = make_project(tmp_path, 1.0)
    with (
        running_worker(tmp_path, "-A", name, "worker", "-P", "solo", name="worker"),
        running_worker(tmp_path, "beat", "-A", name, "-l", "INFO", name="beat") as beat,
    ):
        wait_until(lambda: len(runs(tmp_path)) >= 3, 30, message="three runs")
        begin = started(beat)
        assert sends(beat)[2] - begin <= 5.0
        assert beat.stop() == 0
    assert set(runs(tmp_path)) == {"hello 42"}
    assert (tmp_path / "celerybeat-schedule").exists()


def test_restart_keeps_the_phase_no_early_rerun_no_lost_run(tmp_path: Path) -> None:
    # A restart takes well under a second, so a 2.5 s interval still tells "next run at the
    # kept phase" (last + 2.5) from "at once on start" (an early rerun, about last + 0.3).
    interval = 2.5
    name = make_project(tmp_path, interval)
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", name="worker"):
        with running_worker(tmp_path, *beat_args(name, "--max-interval", "1"), name="a") as a:
            wait_until(lambda: len(sends(a)) >= 2, 30, message="two sends")
            assert a.stop() == 0
        last = sends(a)[-1]
        with running_worker(tmp_path, *beat_args(name, "--max-interval", "1"), name="b") as b:
            wait_until(lambda: len(sends(b)) >= 2, 30, message="two sends after restart")
            begin = started(b)
        first, second = sends(b)[:2]
        expected = max(last + interval, begin)
        assert expected - 0.5 <= first <= expected + 1.0
        assert second - first >= interval - 0.5
        total = len(sends(a)) + len(sends(b))
        wait_until(lambda: len(runs(tmp_path)) >= total, 30, message="every send to run")
        assert len(runs(tmp_path)) == total


def test_runs_missed_while_down_are_caught_up_once(tmp_path: Path) -> None:
    name = make_project(tmp_path, 2.0)
    with running_worker(tmp_path, *beat_args(name, "--max-interval", "1"), name="a") as a:
        wait_until(lambda: len(sends(a)) >= 1, 30, message="a send")
        assert a.stop() == 0
    last = sends(a)[-1]
    wait_until(lambda: time.time() > last + 4.5, 10, message="two runs to be missed")
    with running_worker(tmp_path, *beat_args(name, "--max-interval", "1"), name="b") as b:
        wait_until(lambda: len(sends(b)) >= 2, 30, message="two sends after restart")
        begin = started(b)
    first, second = sends(b)[:2]
    assert first - begin <= 1.0  # the missed run goes out at once ...
    assert second - first >= 1.5  # ... once, not once per missed interval


def test_two_beats_at_once_send_each_run_once(tmp_path: Path) -> None:
    name = make_project(tmp_path, 1.0)
    with (
        running_worker(tmp_path, "-A", name, "worker", "-P", "solo", name="worker"),
        running_worker(tmp_path, *beat_args(name, "--max-interval", "2"), name="a") as a,
        running_worker(tmp_path, *beat_args(name, "--max-interval", "2"), name="b") as b,
    ):
        wait_until(lambda: len(sends(a)) + len(sends(b)) >= 6, 40, message="six sends")
        both = sorted(sends(a) + sends(b))
        assert min(later - earlier for earlier, later in pairwise(both)) >= 0.5
        assert not (sends(a) and sends(b)) or "lost the lease" in a.log() + b.log()
        wait_until(lambda: len(runs(tmp_path)) >= len(both), 30, message="every send to run")
        assert len(runs(tmp_path)) <= len(sends(a)) + len(sends(b))


def test_standby_takes_over_when_the_active_beat_is_killed(tmp_path: Path) -> None:
    name = make_project(tmp_path, 1.0)
    with running_worker(tmp_path, *beat_args(name, "--max-interval", "2"), name="a") as a:
        wait_until(lambda: len(sends(a)) >= 1, 30, message="the first beat to send")
        with running_worker(tmp_path, *beat_args(name, "--max-interval", "2"), name="b") as b:
            started(b)
            count = len(sends(a))
            wait_until(lambda: len(sends(a)) >= count + 2, 30, message="a to keep sending")
            assert sends(b) == []
            a.kill()
            killed_at = time.time()
            wait_until(lambda: len(sends(b)) >= 2, 30, message="the standby to take over")
            assert sends(b)[0] - killed_at <= 2 * 2.0 + 1.0
            assert sends(b)[0] - sends(a)[-1] >= 0.5
            assert b.stop() == 0


def test_embedded_beat_service_runs_on_its_thread_and_a_second_stands_by(tmp_path: Path) -> None:
    name = make_project(tmp_path, 1.0)
    module: Any = import_app_module(tmp_path, name)
    app = module.app
    first = BeatService(app, str(tmp_path / "one-schedule"), max_interval=1)
    second = BeatService(app, str(tmp_path / "two-schedule"), max_interval=1)
    channel = app.transport.channel()
    try:
        first.start()
        wait_until(
            lambda: first.scheduler is not None and first.scheduler.active,
            20,
            message="the first service to take the lease",
        )
        second.start()
        assert "celeriac-beat" in {thread.name for thread in threading.enumerate()}
        wait_until(lambda: channel.size("celery") >= 3, 30, message="three sends")
        assert second.scheduler is not None and not second.scheduler.active
    finally:
        first.stop()
        second.stop()
        channel.close()
        app.close()
    assert not first.is_alive and not second.is_alive
