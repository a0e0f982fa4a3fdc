"""An unreachable broker: ``delay()`` fails fast with ``OperationalError``, a worker waits for
it as ``broker_connection_*`` say, gives up with one line, and stops on SIGTERM meanwhile.

"Unreachable" is a closed port on 127.0.0.1: no shared server is touched. No timing is
asserted; each test carries a generous ``timeout`` marker instead (before the fix, ``delay()``
on RabbitMQ blocked for minutes and a waiting worker ignored SIGTERM).
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.exceptions import OperationalError
from tests.helpers import running_worker, unique_name, wait_until
from tests.integration.redis_server import private_redis


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def amqp_url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{closed_port()}//"


def redis_url() -> str:
    return f"redis://127.0.0.1:{closed_port()}/0"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("broker", "backend"), [
    pytest.param(amqp_url, None, id="amqp"),
    pytest.param(amqp_url, "rpc://", id="amqp-rpc"),
    pytest.param(redis_url, None, id="redis"),
])
def test_delay_raises_operational_error(broker: object, backend: str | None) -> None:
    assert callable(broker)
    app = Celery(unique_name("unreachable"), broker=broker(), backend=backend)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    try:
        with pytest.raises(OperationalError, match="unreachable"):
            add.delay(1, 2)
    finally:
        app.close()


APP = """
from celeriac import Celery

app = Celery({name!r}, broker={broker!r})
app.conf.update({settings!r})


@app.task
def add(x, y):
    return x + y
"""


def start_worker(tmp_path: Path, broker: str, **settings: object) -> tuple[str, Path]:
    name = unique_name("unreachable_worker")
    (tmp_path / f"{name}.py").write_text(APP.format(name=name, broker=broker, settings=settings))
    return name, tmp_path


def log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("broker", [amqp_url, redis_url], ids=["amqp", "redis"])
def test_worker_without_retry_on_startup_exits_with_one_line(
        tmp_path: Path, broker: object) -> None:
    assert callable(broker)
    name, workdir = start_worker(tmp_path, broker(), broker_connection_retry_on_startup=False)
    with running_worker(workdir, "-A", name, "worker", "-P", "solo") as worker:
        code = worker.process.wait(90)
        log = worker.log()
    assert code != 0
    assert "Traceback" not in log
    last = log_lines(log)[-1]
    assert "CRITICAL" in last and "Cannot reach the broker at start-up" in last, log
    assert "broker_connection_retry_on_startup is off" in last


@pytest.mark.timeout(120)
def test_worker_gives_up_after_max_retries(tmp_path: Path) -> None:
    name, workdir = start_worker(tmp_path, redis_url(), broker_connection_max_retries=2)
    with running_worker(workdir, "-A", name, "worker", "-P", "solo") as worker:
        code = worker.process.wait(90)
        log = worker.log()
    assert code != 0
    assert log.count("Broker not reachable") == 2, log
    assert "gave up after 3 attempts, broker_connection_max_retries=2" in log_lines(log)[-1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("broker", [amqp_url, redis_url], ids=["amqp", "redis"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_worker_waiting_for_the_broker_stops_on_signal(
        tmp_path: Path, broker: object, signum: int) -> None:
    assert callable(broker)
    name, workdir = start_worker(tmp_path, broker())
    with running_worker(workdir, "-A", name, "worker", "-P", "solo") as worker:
        wait_until(lambda: any(sign in worker.log() for sign in (
            "Broker not", "connection problem", "unreachable")), timeout=60,
            message="the worker to report the unreachable broker")
        worker.process.send_signal(signum)
        try:
            code = worker.process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker ignored {signal.Signals(signum).name} while waiting:\n"
                        f"{worker.log()}")
        log = worker.log()
    assert code == 0, log
    assert "Traceback" not in log
    assert "Stopped while starting" in log


@pytest.mark.redis
@pytest.mark.timeout(120)
@pytest.mark.parametrize("settings", [
    {"broker_connection_max_retries": 2},
    {"broker_connection_retry": False},
], ids=["max_retries", "no-retry"])
def test_worker_stops_when_reconnecting_runs_out(
        tmp_path: Path, settings: dict[str, object]) -> None:
    """Before, a worker whose Redis went away retried forever, whatever the settings said."""
    with private_redis(tmp_path / "redis") as server:
        name, workdir = start_worker(tmp_path, server.url(), **settings)
        with running_worker(workdir, "-A", name, "worker", "-P", "solo", "-l", "info") as worker:
            wait_until(lambda: "ready." in worker.log(), timeout=60, message="worker ready")
            server.stop()
            try:
                code = worker.process.wait(90)
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker kept retrying a lost broker:\n{worker.log()}")
            log = worker.log()
    assert code == 1, log
    assert "Stopping the worker" in log_lines(log)[-1] or any(
        "CRITICAL" in line and "Stopping the worker" in line for line in log_lines(log)), log


@pytest.mark.redis
@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_worker_stops_on_sigterm_during_an_outage(tmp_path: Path, pool: str) -> None:
    """Before, a warm shutdown waited for the reconnect loop (100 retries) to run out."""
    with private_redis(tmp_path / "redis") as server:
        name, workdir = start_worker(tmp_path, server.url())
        with running_worker(workdir, "-A", name, "worker", "-P", pool, "-c", "1",
                            "-l", "info") as worker:
            wait_until(lambda: "ready." in worker.log(), timeout=60, message="worker ready")
            server.stop()
            wait_until(lambda: "Redis connection lost" in worker.log(), timeout=60,
                       message="the worker to notice the outage")
            worker.process.send_signal(signal.SIGTERM)
            try:
                code = worker.process.wait(60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker ignored SIGTERM during the outage:\n{worker.log()}")
    assert code == 0, worker.log()
