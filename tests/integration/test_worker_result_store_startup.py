"""A worker whose result store cannot be built stops at start-up with one clear line.

Issue 11, defect 3: an unknown scheme or a missing driver was logged once and the worker ran
on without storing any result, so every ``get()`` waited forever. The broker here is a SQLite
file, so nothing but the result store stands in the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import unique_name, write_module

APP_SOURCE = """
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend={results!r})


@app.task
def add(x, y):
    return x + y
"""

#: ``import redis`` fails as it does where the ``redis`` extra is not installed.
WITHOUT_REDIS = ("import sys; sys.modules['redis'] = None; "
                 "from celeriac.cli.main import main; main(sys.argv[1:])")


def _start(tmp_path: Path, results: str, *, without_redis: bool = False) -> tuple[int, str]:
    name = unique_name("store_startup")
    write_module(tmp_path, name, APP_SOURCE.format(
        name=name, broker=f"sqlite:///{tmp_path / 'broker.db'}", results=results))
    launcher = ["-c", WITHOUT_REDIS] if without_redis else ["-m", "celeriac"]
    done = subprocess.run(
        [sys.executable, *launcher, "-A", name, "worker", "-P", "solo"], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(("results", "without_redis", "expected"), [
    ("reddis://127.0.0.1:6379/0", False, "scheme 'reddis' is not supported by celeriac"),
    ("redis://127.0.0.1:6379/0", True, "pip install 'celeriac[redis]'"),
], ids=["unknown-scheme", "missing-driver"])
def test_an_unbuildable_result_store_stops_the_worker_with_one_line(
        tmp_path: Path, results: str, without_redis: bool, expected: str) -> None:
    code, output = _start(tmp_path, results, without_redis=without_redis)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code != 0, output
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: Cannot start the worker:"), output
    assert expected in lines[0]
