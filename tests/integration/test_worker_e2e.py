"""End to end on the embedded SQLite default: real ``celeriac worker`` processes via the CLI."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import TimeoutError as CeleriacTimeout
from tests.helpers import import_app_module, running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os, time
from celeriac import Celery
from celeriac.utils.log import get_task_logger

app = Celery({name!r}{extra})
logger = get_task_logger(__name__)
RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.txt")


class CustomError(Exception):
    pass


@app.task
def add(x, y):
    return x + y


@app.task
def record(n):
    with open(RUNS, "a") as fh:
        fh.write(f"{{n}}\\n")
    return n


@app.task
def boom(message):
    raise ValueError(message)


@app.task
def custom():
    raise CustomError("custom", 42)


@app.task(bind=True, acks_late=True)
def slow_on(self, host_prefix, marker):
    open(marker, "w").close()
    if self.request.hostname.startswith(host_prefix):
        time.sleep(60)
    return self.request.hostname


@app.task(bind=True)
def whoami(self):
    logger.info("whoami running")
    return {{"id": self.request.id, "retries": self.request.retries,
             "hostname": self.request.hostname}}


@app.task
def sleepy(seconds):
    time.sleep(seconds)
    return seconds
"""


def make_project(tmp_path: Path, extra: str = "") -> tuple[str, Any]:
    name = unique_name()
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(name=name, extra=extra))
    return name, import_app_module(tmp_path, name)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A project with no broker configured, run from ``tmp_path`` (zero-config default)."""
    monkeypatch.chdir(tmp_path)
    return make_project(tmp_path)


def test_zero_config_embedded_default_runs_a_task(project: tuple[str, Any],
                                                  tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-l", "info") as worker:
        assert mod.add.delay(4, 4).get(timeout=20) == 8
        assert (tmp_path / "celeriac.db").exists()
        assert "celeriac.db" in worker.log()


@pytest.mark.parametrize("pool", ["solo", "threads", "prefork"])
def test_each_pool_runs_tasks_and_reports_failures(project: tuple[str, Any], tmp_path: Path,
                                                   pool: str) -> None:
    name, mod = project
    with running_worker(tmp_path, "worker", "-A", name, "-P", pool, "-c", "2"):
        results = [mod.add.delay(i, 1) for i in range(10)]
        assert [r.get(timeout=30) for r in results] == [i + 1 for i in range(10)]
        failed = mod.boom.delay("bad thing")
        with pytest.raises(ValueError, match="bad thing"):
            failed.get(timeout=30)
        assert failed.state == "FAILURE" and failed.failed()
        assert "ValueError: bad thing" in (failed.traceback or "")
        assert failed.get(propagate=False).args == ("bad thing",)


def test_custom_exception_is_reraised_with_its_type(project: tuple[str, Any],
                                                    tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads"):
        with pytest.raises(mod.CustomError) as info:
            mod.custom.delay().get(timeout=20)
        assert info.value.args == ("custom", 42)


def test_get_with_timeout_raises_timeout_error(project: tuple[str, Any]) -> None:
    _, mod = project
    with pytest.raises(CeleriacTimeout):
        mod.add.delay(1, 1).get(timeout=0.3)


def test_two_workers_share_300_tasks_each_run_exactly_once(project: tuple[str, Any],
                                                           tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "4",
                        "-n", "a@%h", name="a") as first, \
            running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-n", "b@%h",
                           name="b") as second:
        with mod.app.publish_batch():
            results = [mod.record.delay(i) for i in range(300)]
        assert sorted(r.get(timeout=60) for r in results) == list(range(300))
        assert first.process.poll() is None and second.process.poll() is None
    runs = (tmp_path / "runs.txt").read_text().split()
    assert sorted(int(n) for n in runs) == list(range(300))


def test_acks_late_task_of_a_killed_worker_completes_on_another(project: tuple[str, Any],
                                                                tmp_path: Path) -> None:
    name, mod = project
    # The dead worker's lease runs out after 2 s instead of the default 6 s: seconds, not
    # the 10 s a test would otherwise spend waiting.
    with (tmp_path / f"{name}.py").open("a") as source:
        source.write("\napp.conf.celeriac_lease_timeout = 2.0\n"
                     "app.conf.celeriac_lease_heartbeat = 0.5\n")
    marker = tmp_path / "started"
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-n", "doomed@%h",
                        name="doomed") as doomed:
        result = mod.slow_on.delay("doomed@", str(marker))
        wait_until(marker.exists, 20, message="the task to start on the doomed worker")
        doomed.kill()
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-n", "rescuer@%h",
                        name="rescuer"):
        assert result.get(timeout=30).startswith("rescuer@")


def test_refused_content_type_is_set_aside_and_logged(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name, mod = make_project(tmp_path)
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo") as worker:
        refused = mod.add.apply_async((1, 2), serializer="pickle")
        assert mod.add.delay(2, 2).get(timeout=20) == 4
        wait_until(lambda: "refused content" in worker.log(), 10, message="the refusal log")
        assert refused.state == "PENDING"
        channel = mod.app.transport.channel()
        letters = channel.dead_letters()
        channel.close()
        assert any("application/x-python-serialize" in letter.reason for letter in letters)


def test_unknown_task_is_set_aside_logged_and_reported(project: tuple[str, Any],
                                                       tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo") as worker:
        unknown = mod.app.send_task("no.such.task", (1,))
        assert mod.add.delay(1, 1).get(timeout=20) == 2
        wait_until(lambda: "no.such.task" in worker.log(), 10, message="the error log")
        with pytest.raises(Exception, match=r"no\.such\.task"):
            unknown.get(timeout=10)
        channel = mod.app.transport.channel()
        letters = channel.dead_letters()
        channel.close()
        assert any("unknown task" in letter.reason for letter in letters)


def test_old_uppercase_settings_via_config_from_object(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "old.db"
    config = unique_name("oldconfig")
    (tmp_path / f"{config}.py").write_text(textwrap.dedent(f"""
        BROKER_URL = "sqlite:///{db}"
        CELERY_RESULT_BACKEND = "db+sqlite:///{db}"
        CELERY_DEFAULT_QUEUE = "legacy"
        CELERY_TASK_SERIALIZER = "json"
        CELERY_ACCEPT_CONTENT = ["json"]
        CELERYD_PREFETCH_MULTIPLIER = 2
    """))
    name, mod = make_project(tmp_path)
    source = (tmp_path / f"{name}.py").read_text()
    (tmp_path / f"{name}.py").write_text(source + f"\napp.config_from_object({config!r})\n")
    mod.app.config_from_object(config)
    assert mod.app.conf.task_default_queue == "legacy"
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo") as worker:
        assert mod.add.delay(20, 22).get(timeout=20) == 42
        assert "legacy" in worker.log()
    assert db.exists()


def test_new_lowercase_settings_and_conf_update(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "new.db"
    extra = f", broker='sqlite:///{db}', backend='sqlite:///{db}'"
    name, mod = make_project(tmp_path, extra)
    source = (tmp_path / f"{name}.py").read_text()
    (tmp_path / f"{name}.py").write_text(
        source + "\napp.conf.update(task_default_queue='fresh', result_extended=True)\n")
    mod.app.conf.update(task_default_queue="fresh", result_extended=True)
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-Q", "fresh"):
        result = mod.whoami.delay()
        value = result.get(timeout=20)
        assert value["id"] == result.id and value["retries"] == 0
        assert result.name == f"{name}.whoami"


def test_autodiscover_tasks_finds_package_tasks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    package = unique_name("pkg")
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "tasks.py").write_text(textwrap.dedent(f"""
        from celeriac import shared_task

        @shared_task(name="{package}.tasks.mul")
        def mul(x, y):
            return x * y
    """))
    name = unique_name()
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        from celeriac import Celery
        app = Celery({name!r})
        app.autodiscover_tasks([{package!r}])
    """))
    mod: Any = import_app_module(tmp_path, name)
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo") as worker:
        result = mod.app.send_task(f"{package}.tasks.mul", (6, 7))
        assert result.get(timeout=20) == 42
        assert f"{package}.tasks.mul" in worker.log()


def test_task_logger_lines_carry_task_name_and_id(project: tuple[str, Any],
                                                  tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "solo", "-l", "info") as worker:
        result = mod.whoami.delay()
        result.get(timeout=20)
        wait_until(lambda: "whoami running" in worker.log(), 10, message="the task log line")
        line = next(li for li in worker.log().splitlines() if "whoami running" in li)
        assert f"{name}.whoami[{result.id}]" in line


def test_warm_shutdown_returns_unstarted_tasks(project: tuple[str, Any], tmp_path: Path) -> None:
    name, mod = project
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "1",
                        name="first") as first:
        results = [mod.sleepy.delay(0.2) for _ in range(10)]
        results[0].get(timeout=20)
        assert first.stop() == 0
    with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "4",
                        name="second"):
        assert [r.get(timeout=30) for r in results] == [0.2] * 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_prefork_child_death_reports_worker_lost(project: tuple[str, Any],
                                                 tmp_path: Path) -> None:
    name, mod = project
    source = (tmp_path / f"{name}.py").read_text()
    (tmp_path / f"{name}.py").write_text(source + textwrap.dedent("""
        @app.task
        def die():
            os._exit(3)
    """))
    with running_worker(tmp_path, "-A", name, "worker", "-P", "prefork", "-c", "1"):
        lost = mod.app.send_task(f"{name}.die")
        with pytest.raises(Exception, match=r"exited prematurely|WorkerLost"):
            lost.get(timeout=30)
        assert mod.add.delay(2, 3).get(timeout=30) == 5


def test_worker_with_embedded_beat_runs_a_one_second_schedule(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = unique_name()
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        import os
        from celeriac import Celery

        app = Celery({name!r})
        app.conf.beat_schedule = {{
            "tick-every-second": {{"task": "{name}.tick", "schedule": 1.0, "args": (7,)}},
        }}
        RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ticks.txt")

        @app.task
        def tick(value):
            with open(RUNS, "a") as fh:
                fh.write(f"{{value}}\\n")
    """))
    ticks = tmp_path / "ticks.txt"
    with running_worker(tmp_path, "-A", name, "worker", "-B", "-P", "solo", "-l", "info"):
        wait_until(lambda: ticks.exists() and len(ticks.read_text().split()) >= 3, 8,
                   message="three runs of a one-second schedule")
    assert set(ticks.read_text().split()) == {"7"}
