"""``celeriac.contrib.rdb``: a task in a real (prefork) worker stops in the remote debugger; the
test connects to it over TCP, inspects a local with ``p`` and resumes the task with ``c``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.redis_server import _free_port

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery
from celeriac.contrib import rdb

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery({name!r}, broker="sqlite:///" + os.path.join(HERE, "broker.db"),
             backend="sqlite:///" + os.path.join(HERE, "results.db"))


@app.task(name="proj.debugged")
def debugged(x):
    secret = x * 1000 + 7
    rdb.set_trace()
    return secret + 1
"""

BANNER = re.compile(r"Remote Debugger:(\d+): Ready to connect: telnet (\S+) (\d+)")
PROMPT = b"(Pdb) "


def read_until_prompt(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(PROMPT):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def test_task_stopped_in_rdb_is_inspected_and_continued_over_a_socket(tmp_path: Path) -> None:
    name = unique_name("rdbproj")
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name))
    module: Any = import_app_module(tmp_path, name)
    base_port = _free_port()
    with running_worker(tmp_path, "-A", name, "worker", "-l", "INFO", "-c", "1",
                        env={"CELERIAC_RDB_PORT": str(base_port)}) as worker:
        result = module.debugged.delay(42)
        wait_until(lambda: BANNER.search(worker.log()), 30, message="the debugger's banner")
        found = BANNER.search(worker.log())
        assert found is not None
        host, port = found.group(2), int(found.group(3))
        assert host == "127.0.0.1"
        assert base_port <= port < base_port + 100  # base + the ForkPoolWorker index
        with socket.create_connection((host, port), timeout=30) as sock:
            first = read_until_prompt(sock)
            assert "rdb.set_trace()" in first or "return secret + 1" in first
            sock.sendall(b"p secret\n")
            assert "42007" in read_until_prompt(sock)
            sock.sendall(b"c\n")
            assert sock.recv(4096) == b""  # the session ends: the debugger closed the socket
        assert result.get(timeout=30) == 42008
        wait_until(lambda: f"Remote Debugger:{port}: Session with" in worker.log(), 10,
                   message="the session-ended line")


@pytest.mark.parametrize("prefix", ["CELERY", "CELERIAC"])
def test_host_and_port_come_from_either_environment_name(prefix: str) -> None:
    code = ("from celeriac.contrib import rdb; "
            "print(rdb.CELERY_RDB_HOST, rdb.CELERY_RDB_PORT)")
    env = {f"{prefix}_RDB_HOST": "0.0.0.0", f"{prefix}_RDB_PORT": "7001", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["0.0.0.0", "7001"]


def test_defaults_match_celery() -> None:
    celery_rdb = pytest.importorskip("celery.contrib.rdb")
    code = ("from celeriac.contrib import rdb; "
            "print(rdb.CELERY_RDB_HOST, rdb.CELERY_RDB_PORT, rdb.DEFAULT_PORT)")
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": ""}, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["127.0.0.1", "6899", str(celery_rdb.DEFAULT_PORT)]
