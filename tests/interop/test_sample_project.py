"""The sample project's own test suite (tests/sample_project, written against Celery's pytest
fixtures) passes on celeriac, and, with only its imports changed, on real Celery."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_project"
_IMPORT = re.compile(r"^(\s*)(from|import) celeriac\b", re.MULTILINE)


def _copy(tmp_path: Path, to_celery: bool) -> Path:
    project = tmp_path / "sample_project"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    if to_celery:
        for path in project.rglob("*.py"):
            path.write_text(_IMPORT.sub(r"\1\2 celery", path.read_text()))
        left = [p for p in project.rglob("*.py") if re.search(r"(from|import) celeriac\b",
                                                               p.read_text())]
        assert not left
    return project


def _run_suite(project: Path, *plugin_args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST_", "COV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *plugin_args],
        cwd=project, env=env, capture_output=True, text=True, timeout=280, check=False)


def _passed(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    found = re.search(r"(\d+) passed", result.stdout)
    assert found is not None, result.stdout[-2000:]
    return int(found.group(1))


@pytest.mark.parametrize("plugin_args", [("-p", "celeriac.contrib.pytest"), ()],
                         ids=["explicit", "entry-point"])
def test_sample_suite_passes_on_celeriac(tmp_path: Path, plugin_args: tuple[str, ...]) -> None:
    result = _run_suite(_copy(tmp_path, to_celery=False), *plugin_args)
    assert _passed(result) >= 19
    assert "skipped" not in result.stdout


@pytest.mark.timeout(300)
def test_same_suite_passes_on_celery(tmp_path: Path) -> None:
    """Proof that the suite is Celery-shaped: Celery's own plugin runs it, ours is off."""
    result = _run_suite(_copy(tmp_path, to_celery=True), "-p", "celery.contrib.pytest",
                        "-p", "no:celeriac.contrib.pytest")
    assert _passed(result) >= 19
    assert "skipped" not in result.stdout
