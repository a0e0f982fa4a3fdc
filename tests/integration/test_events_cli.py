"""``celeriac events`` as a user runs it: a subprocess watching a celeriac worker, stopped by PID.

The live view must work with no terminal (its frames are then printed one after another),
a ``--camera`` class must get pictures of the cluster state, mistakes in the options end the
command with a usage error, and the dump must survive a broker restart, as Celery's does.

"""

from __future__ import annotations

import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from celeriac.events.dispatcher import EventDispatcher
from tests.helpers import (
    CELERIAC,
    WorkerProcess,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.redis_server import RedisServer

pytestmark = [pytest.mark.slow]

APP = """
from celeriac import Celery

app = Celery("{name}", broker="{broker}")


@app.task(name="evcli.add")
def add(x, y):
    return x + y
"""

CAMERA = """
from celeriac.events.snapshot import Polaroid


class Camera(Polaroid):
    clear_after = False

    def on_shutter(self, state):
        workers = ",".join(sorted(w.hostname for w in state.workers.values() if w.alive))
        tasks = ",".join(f"{{t.name}}={{t.state}}" for _, t in state.tasks_by_time())
        with open("{path}", "a") as fh:
            fh.write(f"{{workers}}|{{tasks}}\\n")
"""


def _project(directory: Path, broker: str) -> str:
    name = unique_name("evcli")
    (directory / f"{name}.py").write_text(APP.format(name=name, broker=broker))
    return name


def _worker(directory: Path, module: str) -> AbstractContextManager[WorkerProcess]:
    return running_worker(directory, "-A", module, "worker", "-P", "solo", "-n",
                          f"{module}@evcli", "-E", "--heartbeat-interval", "0.5", "-l", "info",
                          name="worker")


def test_live_view_without_a_terminal(tmp_path: Path) -> None:
    module = _project(tmp_path, f"sqlite:///{tmp_path / 'broker.db'}")
    app = import_app_module(tmp_path, module).app  # type: ignore[attr-defined]
    try:
        with running_worker(tmp_path, "-A", module, "events", "--frequency", "0.2",
                            "--pidfile", str(tmp_path / "events.pid"),
                            name="top") as top, _worker(tmp_path, module):
            pidfile = tmp_path / "events.pid"
            wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() == str(top.pid),
                       timeout=30, message="the pid file")
            wait_until(lambda: f"{module}@evcli" in top.log() and "ONLINE" in top.log(),
                       timeout=30, message="the worker ONLINE in the live view")
            app.send_task("evcli.add", (1, 2))
            wait_until(lambda: "evcli.add" in top.log() and "SUCCESS" in top.log(),
                       timeout=30, message="the task SUCCESS in the live view")
            assert top.stop() == 0
        output = top.log()
    finally:
        app.close()
    assert "\x1b[" not in output  # no terminal: no screen clearing, frames one after another
    assert output.count("Workers:") >= 2 and "Traceback" not in output


def test_camera_gets_pictures_of_the_state(tmp_path: Path) -> None:
    module = _project(tmp_path, f"sqlite:///{tmp_path / 'broker.db'}")
    pictures = tmp_path / "pictures.txt"
    log = tmp_path / "events.log"
    camera = unique_name("evcam")
    (tmp_path / f"{camera}.py").write_text(CAMERA.format(path=pictures))
    app = import_app_module(tmp_path, module).app  # type: ignore[attr-defined]
    try:
        with running_worker(tmp_path, "-A", module, "events", "--camera", f"{camera}.Camera",
                            "--frequency", "0.2", "-l", "DEBUG", "--logfile", str(log),
                            name="cam") as cam, _worker(tmp_path, module):
            wait_until(lambda: "Taking snapshots with" in cam.log(), timeout=30,
                       message="the camera's banner")
            wait_until(lambda: pictures.exists() and f"{module}@evcli|" in pictures.read_text(),
                       timeout=30, message="a picture with the worker alive")
            app.send_task("evcli.add", (1, 2))
            wait_until(lambda: "evcli.add=SUCCESS" in pictures.read_text(), timeout=30,
                       message="a picture with the task done")
            assert cam.stop() == 0
    finally:
        app.close()
    assert "Shutter: <State: events=" in log.read_text()  # --loglevel and --logfile act


@pytest.mark.parametrize(("args", "message"), [
    (["--camera", "no_such_module.Camera"], "cannot import"),
    (["--camera", "celeriac.events.state.State"], "is not a celeriac.events.snapshot.Polaroid"),
    (["--camera", "celeriac.events.snapshot.Polaroid", "--maxrate", "fast"], "Invalid --maxrate"),
    (["--frequency", "0"], "must be greater than 0"),
])
def test_option_mistakes_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([CELERIAC, "-b", f"sqlite:///{tmp_path / 'b.db'}", "events", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.redis
def test_dump_reconnects_after_a_broker_restart(server: RedisServer, tmp_path: Path) -> None:
    url = server.url(0)
    with running_worker(tmp_path, "-b", url, "events", "--dump", name="dump") as dump:
        wait_until(lambda: "starting capture" in dump.log(), timeout=30, message="the banner")
        server.restart()  # redis-py re-subscribes by itself, else the dump subscribes again
        from celeriac import Celery

        sender = Celery("evcli-sender", broker=url)
        channel = sender.transport.channel()
        try:
            dispatcher = EventDispatcher(channel, "sender@evcli")

            def dumped() -> bool:
                dispatcher.send("worker-heartbeat", freq=2.0, active=0, processed=7)
                time.sleep(0.2)
                return "sender@evcli [" in dump.log()

            wait_until(dumped, timeout=30, message="an event dumped after the restart")
        finally:
            channel.close()
            sender.close()
        assert dump.stop() == 0
    assert "heartbeat: " in dump.log() and "processed=7" in dump.log()
