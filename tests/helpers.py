"""Shared test tools: deadline waits, worker subprocesses stopped by PID, service checks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.worker.worker import Worker, WorkerOptions

CELERIAC = str(Path(sys.executable).with_name("celeriac"))


def wait_until(predicate: Callable[[], object], timeout: float = 10.0,
               interval: float = 0.02, message: str = "condition") -> None:
    """Poll ``predicate`` until true; fail the test with ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@contextmanager
def in_process_worker(app: Celery, *, worker_class: type[Worker] = Worker,
                      **options: Any) -> Iterator[Worker]:
    """A worker for ``app`` on a thread of this test's process; stopped and joined on exit.

    ``options`` are ``WorkerOptions`` fields. Signal handlers stay the test runner's own.
    """
    worker = worker_class(app, WorkerOptions(**options))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(30)


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under CI) when ``host:port`` does not accept connections."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        reason = f"{name} not reachable at {host}:{port}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def stop_by_pid(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                timeout: float = 30) -> int:
    """Send ``sig`` to ``process`` (by its PID, never by name); SIGKILL it if it outlives
    ``timeout`` seconds. Returns its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


@dataclass
class WorkerProcess:
    """A ``celeriac worker`` started by a test; stopped by its PID."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_by_pid(self.process, sig, timeout)

    def kill(self) -> None:
        """SIGKILL the worker and its children (prefork), like a crash."""
        children = _children_of(self.pid)
        os.kill(self.pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self.process.wait(10)


def _children_of(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                             text=True, check=False).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def write_module(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


@contextmanager
def running_worker(workdir: Path, *args: str, name: str = "worker",
                   env: dict[str, str] | None = None) -> Iterator[WorkerProcess]:
    """Start ``celeriac <args>`` in ``workdir``; always stop it (by PID) on exit."""
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [CELERIAC, *args], cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(workdir), **(env or {})},
        )
    with supervised(WorkerProcess(process, log_path), name) as worker:
        yield worker


@contextmanager
def supervised(worker: WorkerProcess, label: str) -> Iterator[WorkerProcess]:
    """Yield a started worker; print its log if the block fails; always stop it by PID."""
    try:
        yield worker
    except BaseException:
        sys.stderr.write(f"\n---- {label} log ----\n{worker.log()}\n")
        raise
    finally:
        worker.stop()


def import_app_module(directory: Path, module: str) -> object:
    """Import ``module`` (a unique name per test) from ``directory``, as the worker does."""
    import importlib

    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    return importlib.import_module(module)


_counter = [0]


def unique_name(prefix: str = "proj") -> str:
    """A module name no other test uses in this process."""
    _counter[0] += 1
    return f"{prefix}_{os.getpid()}_{_counter[0]}"


@contextmanager
def flushed_redis(url: str) -> Iterator[Any]:
    """A client on ``url``'s database of the suite's own redis-server, emptied before and after.

    ``url`` must come from ``tests.suite_redis.suite_redis_url``: any other server is refused.
    Skips (or fails under CI) when redis-server is not installed.
    """
    from tests.suite_redis import flush_suite_db

    client = flush_suite_db(url)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def close_celery_app(app: Any) -> None:
    """Close a real Celery app used as a client in this process, its result connections too.

    Celery's ``app.close()`` leaves the Redis result store's pub/sub connection open (its
    ``ResultConsumer`` re-opens one to unsubscribe after each ``get()``); left to the garbage
    collector, that socket's ResourceWarning fails whichever test happens to be running.
    """
    backend = app.backend
    consumer = getattr(backend, "result_consumer", None)
    if consumer is not None and hasattr(consumer, "stop"):
        consumer.stop()
    client = getattr(backend, "client", None)
    if client is not None:
        client.connection_pool.disconnect()
    app.close()
