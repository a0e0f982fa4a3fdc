"""The pytest plugin's overridable fixtures, in a suite of their own (a subprocess): the app
trap, class tasks, app and worker parameters, the pool, and the ``celery`` marker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SUITE = '''
import pytest

from celeriac import Task, current_app


class Double(Task):
    name = "suite.Double"

    def run(self, x):
        return 2 * x


@pytest.fixture(scope="session")
def celery_config():
    return {"broker_url": "memory://plugin-suite", "task_default_queue": "suite"}


@pytest.fixture(scope="session")
def celery_parameters():
    return {"fixups": []}


@pytest.fixture(scope="session")
def celery_class_tasks():
    return [Double]


@pytest.fixture(scope="session")
def celery_worker_pool():
    return "threads"


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {"queues": ("suite",), "hostname": "suite@node"}


@pytest.fixture(scope="session")
def use_celery_app_trap():
    return True


def test_trap(celery_app):
    assert celery_app.fixups == set()
    with pytest.raises(RuntimeError, match="current_app"):
        current_app.tasks


def test_depends_on_current_app(celery_app, depends_on_current_app):
    assert current_app.fixups == set()


@pytest.mark.celery(task_default_queue="marked")
def test_marker(celery_app):
    assert celery_app.conf.task_default_queue == "marked"
    assert celery_app.conf.broker_url == "memory://plugin-suite"


def test_session_worker_runs_class_tasks(celery_session_app, celery_session_worker):
    assert celery_session_worker.hostname == "suite@node"
    assert celery_session_worker.options.pool == "threads"
    result = celery_session_app.tasks["suite.Double"].delay(21)
    assert result.get(timeout=10) == 42
'''


def test_overridable_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n"
                                         "filterwarnings = error\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=100, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout
