"""A user's mistake or a stopped broker gets a sentence from the CLI, not a traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import CELERIAC, unique_name


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CELERIAC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": "/usr/bin:/bin",
                                                        "PYTHONPATH": str(cwd)})


@pytest.mark.parametrize("argv", [
    ("-A", "nosuchmodule_celeriac", "worker"),
    ("worker", "-A", "nosuchmodule_celeriac"),
    ("-A", "nosuchmodule_celeriac", "inspect", "ping"),
], ids=["before", "after", "inspect"])
def test_bad_app_is_a_short_usage_error(tmp_path: Path, argv: tuple[str, ...]) -> None:
    done = run_cli(tmp_path, *argv)
    assert done.returncode == 2, done.stderr  # click's usage-error status, as Celery's
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 6, done.stderr
    assert "Invalid value for '-A' / '--app'" in done.stderr
    assert "nosuchmodule_celeriac" in done.stderr


def test_module_without_an_app_is_a_usage_error(tmp_path: Path) -> None:
    name = unique_name("noapp")
    (tmp_path / f"{name}.py").write_text("x = 1\n")
    done = run_cli(tmp_path, "-A", name, "worker")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Could not find a Celery app" in done.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheme", ["redis", "amqp"])
@pytest.mark.parametrize("command", [("inspect", "ping"), ("status",), ("purge", "-f"),
                                     ("deadletter", "list")], ids=" ".join)
def test_command_with_the_broker_down_is_one_line(tmp_path: Path, scheme: str,
                                                  command: tuple[str, ...]) -> None:
    port = closed_port()
    broker = (f"redis://127.0.0.1:{port}/0" if scheme == "redis"
              else f"amqp://guest:guest@127.0.0.1:{port}//")
    name = unique_name("inspect_down")
    (tmp_path / f"{name}.py").write_text(
        f"from celeriac import Celery\napp = Celery({name!r}, broker={broker!r})\n")
    done = run_cli(tmp_path, "-A", name, *command)
    remote = command[0] in ("inspect", "status")  # Celery's EX_UNAVAILABLE, as `celery inspect`
    assert done.returncode == (69 if remote else 1), done.stderr
    assert "Traceback" not in done.stderr
    if remote and scheme == "redis":
        assert "Error: Could not connect to the message broker." in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    assert lines == done.stderr.strip().splitlines()[-1:], done.stderr  # the last word


def test_result_without_a_backend_is_one_line(tmp_path: Path) -> None:
    name = unique_name("no_backend")
    (tmp_path / f"{name}.py").write_text(
        f"from celeriac import Celery\napp = Celery({name!r}, broker='memory://')\n")
    done = run_cli(tmp_path, "-A", name, "result", "0" * 32)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: No result backend is configured"), done.stderr
