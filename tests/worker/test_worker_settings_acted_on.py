"""``worker_state_db`` feeds ``--statedb``; ``worker_enable_soft_shutdown_on_idle`` makes an idle
cold shutdown take its soft period too (in-process worker on ``memory://``)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.utils.nodenames import node_format
from celeriac.worker.worker import Worker, WorkerOptions
from tests.helpers import in_process_worker, wait_until


def make_app() -> Celery:
    name = uuid.uuid4().hex
    app = Celery("settings", broker=f"memory://{name}", backend=f"cache+memory://{name}")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app


def run_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    return thread


def test_worker_state_db_is_the_statedb_with_the_node_name_expanded(tmp_path: Path) -> None:
    app = make_app()
    app.conf.worker_state_db = str(tmp_path / "%n.state")
    revoked_id = uuid.uuid4().hex
    (tmp_path / "w1.state").write_text(json.dumps({"revoked": {revoked_id: time.time() + 600}}))
    try:
        with in_process_worker(app, pool="threads", concurrency=1, hostname="w1@example"):
            refused = app.send_task("proj.add", (1, 1), task_id=revoked_id)
            wait_until(lambda: refused.state == "REVOKED", 10,
                       message="the revoked task refused")
            assert app.send_task("proj.add", (1, 1)).get(timeout=10) == 2
    finally:
        app.close()


def test_the_statedb_flag_wins_over_the_setting(tmp_path: Path) -> None:
    app = make_app()
    app.conf.worker_state_db = str(tmp_path / "setting.state")
    options = WorkerOptions(pool="solo", hostname="w1@example",
                            statedb=str(tmp_path / "flag-%h.state"))
    assert Worker(app, options).statedb_path() == str(tmp_path / "flag-example.state")


@pytest.mark.parametrize(("template", "expected"), [
    ("/var/run/%n.state", "/var/run/w1.state"),
    ("%h|%d|%p|%i|%I|%%n", "host.example.com|example.com|w1@host.example.com|0||%n"),
])
def test_node_format_expands_celerys_codes(template: str, expected: str) -> None:
    assert node_format(template, "w1@host.example.com") == expected


def test_an_idle_cold_shutdown_takes_its_soft_period_when_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    app.conf.worker_soft_shutdown_timeout = 0.2
    app.conf.worker_enable_soft_shutdown_on_idle = True
    worker = Worker(app, WorkerOptions(pool="threads", concurrency=1))
    thread = run_in_thread(worker)
    try:
        assert app.send_task("proj.add", (1, 2)).get(timeout=10) == 3
        with caplog.at_level(logging.WARNING, logger="celeriac.worker"):
            worker.stop(cold=True)
            thread.join(30)
    finally:
        worker.stop()
        thread.join(30)
        app.close()
    assert "Initiating soft shutdown" in caplog.text


def test_without_the_setting_a_cold_shutdown_has_no_soft_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    worker = Worker(app, WorkerOptions(pool="threads", concurrency=1))
    thread = run_in_thread(worker)
    with caplog.at_level(logging.WARNING, logger="celeriac.worker"):
        worker.stop(cold=True)
        thread.join(30)
    app.close()
    assert "soft shutdown" not in caplog.text
