"""Remote control against real ``celeriac worker`` processes (prefork, 2 children), on Redis
(the suite's own server, db 15) and on SQLite: user-defined commands from the app module
(Celery's decorators) through ``app.control.broadcast`` and the CLI, the reply shapes of the
events/election/debugging commands, ``--json``/``--list``/``--destination``/``--timeout``,
``inspect active`` naming the child process that runs the task, and, on Redis, Celery's own
``celery inspect`` talking to the celeriac worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from celeriac import Celery
from celeriac.control import Control
from tests.helpers import (
    CELERIAC,
    WorkerProcess,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
    write_module,
)
from tests.suite_redis import flush_suite_db, suite_redis_url

pytestmark = [pytest.mark.slow]
REDIS_URL = suite_redis_url(15)
CELERY = str(Path(sys.executable).with_name("celery"))

APP_SOURCE = """
import time
from celeriac import Celery
from celeriac.worker.control import control_command, inspect_command

app = Celery({name!r}, broker={url!r})
app.conf.task_default_queue = {queue!r}
FLAGS = []


@app.task(name="ctl.sleepy")
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@inspect_command(args=[("n", int)], signature="<n>")
def triple(state, n=1, **kwargs):
    \"\"\"Triple n, and say who answered.\"\"\"
    return {{"value": n * 3, "hostname": state.hostname, "app": state.consumer.app.main}}


@control_command(args=[("flag", str)], signature="<flag>")
def raise_flag(state, flag, **kwargs):
    \"\"\"Raise a flag on the worker.\"\"\"
    FLAGS.append(flag)
    return {{"ok": f"flag {{flag}} raised"}}


@inspect_command()
def flags(state, **kwargs):
    \"\"\"The flags raised so far.\"\"\"
    return list(FLAGS)
"""


@dataclass
class Setup:
    workdir: Path
    module: str
    url: str
    hostname: str
    worker: WorkerProcess
    app: Celery
    control: Control

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CELERIAC, "-A", self.module, *args], cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(self.workdir)})

    def ask(self, method: str, **arguments: Any) -> Any:
        replies = self.control.broadcast(method, arguments, destination=[self.hostname],
                                         reply=True, timeout=10.0)
        assert replies, f"no reply to {method}"
        return replies[0][self.hostname]


@pytest.fixture(scope="module", params=["redis", "sqlite"])
def setup(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp(f"ctl-{request.param}")
    if request.param == "redis":
        url = REDIS_URL
        flush_suite_db(url).close()
    else:
        url = f"sqlite:///{workdir / 'broker.db'}"
    module = unique_name("ctl_app")
    write_module(workdir, module, APP_SOURCE.format(name=module, url=url,
                                                    queue=f"q-{uuid.uuid4().hex[:6]}"))
    app_module: Any = import_app_module(workdir, module)
    hostname = f"w-{uuid.uuid4().hex[:6]}@test"
    with running_worker(workdir, "-A", module, "worker", "-n", hostname, "-P", "prefork",
                        "-c", "2", "-l", "info", name=f"worker-{request.param}") as worker:
        control = Control(app_module.app)
        try:
            wait_until(lambda: control.ping(destination=[hostname], timeout=0.5),
                       timeout=60, message="the worker to answer a ping")
            yield Setup(workdir, module, url, hostname, worker, app_module.app, control)
        finally:
            control.close()
            app_module.app.close()
    if request.param == "redis":
        flush_suite_db(url).close()


def test_user_commands_through_broadcast(setup: Setup) -> None:
    assert setup.ask("triple", n=5) == {"value": 15, "hostname": setup.hostname,
                                        "app": setup.module}
    assert setup.ask("raise_flag", flag="a") == {"ok": "flag a raised"}
    assert setup.ask("flags") == ["a"]


def test_user_commands_through_the_cli(setup: Setup) -> None:
    done = setup.cli("inspect", "triple", "7", "-d", setup.hostname, "-t", "10", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {setup.hostname: {"value": 21, "hostname": setup.hostname,
                                                        "app": setup.module}}
    done = setup.cli("control", "raise_flag", "b", "-d", setup.hostname, "-t", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"->  {setup.hostname}: OK\n        flag b raised\n"
    done = setup.cli("inspect", "--list")
    assert done.returncode == 0, done.stderr
    assert "triple <n>" in done.stdout and "Triple n, and say who answered." in done.stdout
    assert "raise_flag" not in done.stdout  # a control command
    done = setup.cli("control", "--list")
    assert "raise_flag <flag>" in done.stdout and "Raise a flag on the worker." in done.stdout


def test_new_commands_reply_shapes(setup: Setup) -> None:
    assert setup.ask("heartbeat") is None  # sent, as Celery answers
    assert setup.ask("enable_events") == {"ok": "task events enabled"}
    assert setup.ask("enable_events") == {"ok": "task events already enabled"}
    assert setup.ask("disable_events") == {"ok": "task events disabled"}
    assert setup.ask("election", id="e", topic="no-such-topic", action=None) is None  # held
    inspect = setup.control.inspect(destination=setup.hostname, timeout=10.0)
    assert str(inspect.memsample()).endswith("MB")
    assert "- rss (end): " in inspect.memdump()
    assert "objgraph library" in inspect.objgraph()["error"]
    assert inspect.registered() == ["ctl.sleepy"]
    conf = inspect.conf()
    assert conf["task_default_queue"].startswith("q-") and "worker_concurrency" not in conf
    assert "worker_concurrency" in inspect.conf(with_defaults=True)


def test_destination_and_timeout(setup: Setup) -> None:
    done = setup.cli("inspect", "ping", "-d", f"{setup.hostname},nobody@test", "-t", "1.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"->  {setup.hostname}: OK\n        pong\n\n1 node online.\n"
    done = setup.cli("status", "-d", "nobody@test", "-t", "0.5")
    assert done.returncode == 69, done.stderr
    assert done.stderr.strip() == "Error: No nodes replied within time constraint"
    done = setup.cli("status", "-t", "1.5", "-j")
    assert json.loads(done.stdout) == {setup.hostname: {"ok": "pong"}}


def test_inspect_active_names_the_prefork_child(setup: Setup) -> None:
    setup.app.send_task("ctl.sleepy", (3,))
    inspect = setup.control.inspect(destination=setup.hostname, timeout=5.0)
    active: list[Any] = []

    def running() -> bool:
        active[:] = inspect.active() or []
        return bool(active) and active[0]["worker_pid"] is not None

    wait_until(running, timeout=20, interval=0.2, message="the task to be active")
    children = {child.pid for child in psutil.Process(setup.worker.pid).children()}
    assert active[0]["name"] == "ctl.sleepy"
    assert active[0]["worker_pid"] in children
    assert active[0]["worker_pid"] != setup.worker.pid


@pytest.mark.parametrize("setup", ["redis"], indirect=True)  # kombu has no SQLite transport
def test_celery_inspect_against_celeriac_worker(setup: Setup) -> None:
    name = unique_name("celery_client")
    write_module(setup.workdir, name, f"""
        from celery import Celery
        app = Celery("{name}", broker="{setup.url}")
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(setup.workdir)}
    for argv, expected in ((["inspect", "ping"], "pong"),
                           (["inspect", "memsample"], "MB"),
                           (["inspect", "stats", "--json"], '"prefetch_count"')):
        done = subprocess.run([CELERY, "-A", name, *argv, "-d", setup.hostname, "-t", "10"],
                              cwd=setup.workdir, capture_output=True, text=True, timeout=60,
                              check=False, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert expected in done.stdout, done.stdout


def test_pool_commands_from_the_cli_and_the_client(setup: Setup) -> None:
    done = setup.cli("control", "pool_grow", "1", "-d", setup.hostname, "-t", "10", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{setup.hostname: {"ok": "pool will grow"}}]
    assert setup.control.pool_shrink(1, destination=[setup.hostname], reply=True,
                                     timeout=10.0) == [
        {setup.hostname: {"ok": "pool will shrink"}}]
    done = setup.cli("control", "--list")
    assert "pool_grow [N=1]" in done.stdout and "autoscale [max [min]]" in done.stdout
