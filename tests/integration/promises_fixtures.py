"""Shared pieces of the "worker's promises" end-to-end tests (issue 5).

Every test writes a small task module into ``tmp_path`` (the same header for all, then its own
tasks), starts real ``celeriac worker`` processes on it through the CLI and judges what a user
sees: results, states, the worker's log, and an ``events.txt`` file the tasks, hooks and
signal handlers append to (one line per event, written with a single ``write`` so processes
and threads can share it).

The ``broker`` fixture runs each test against the embedded default (SQLite, a file in
``tmp_path``) and Redis (db 0 for messages, db 1 for results, flushed before and after; the
test is skipped when Redis is unreachable, and fails if env ``CI`` is set).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.suite_redis import suite_redis_url

REDIS_BROKER = suite_redis_url(0)
REDIS_BACKEND = suite_redis_url(1)

HEADER = '''
import logging, os, sys, time
from celeriac import Celery

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS = os.path.join(HERE, "events.txt")
{preamble}
app = Celery({name!r}, broker={broker!r}, backend={backend!r})
app.conf.task_default_queue = {queue!r}
# A dead worker's unacknowledged messages come back within seconds (both transports).
app.conf.celeriac_lease_timeout = 2.0
app.conf.celeriac_lease_heartbeat = 0.5
{conf}


def note(*parts):
    """Append one event line (pid last) to events.txt; safe across processes."""
    line = " ".join(str(p) for p in parts) + " pid=" + str(os.getpid()) + "\\n"
    with open(EVENTS, "a") as fh:
        fh.write(line)
'''


@dataclass(frozen=True)
class Broker:
    """Where a test's messages and results live."""

    kind: str
    broker_url: str
    backend_url: str


@dataclass
class Project:
    """A task module in ``directory`` and the handle to start workers on it."""

    name: str
    module: Any
    directory: Path
    broker: Broker
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.module.app

    def worker(
        self, *args: str, name: str = "worker", env: dict[str, str] | None = None
    ) -> AbstractContextManager[WorkerProcess]:
        """``celeriac -A <module> worker <args>`` in the project folder (stopped by PID)."""
        return running_worker(self.directory, "-A", self.name, "worker", *args, name=name, env=env)

    def events(self) -> list[str]:
        path = self.directory / "events.txt"
        return path.read_text().splitlines() if path.exists() else []

    def events_with(self, word: str) -> list[str]:
        return [line for line in self.events() if line.split()[:1] == [word]]

    def dead_letters(self) -> list[Any]:
        channel = self.app.transport.channel()
        try:
            return list(channel.dead_letters())
        finally:
            channel.close()


@pytest.fixture(params=["sqlite", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """The embedded SQLite default (a file in ``tmp_path``) or db 0 / db 1 of the suite's Redis."""
    if request.param == "sqlite":
        db = tmp_path / "celeriac.db"
        yield Broker("sqlite", f"sqlite:///{db}", f"sqlite:///{db}")
        return
    with flushed_redis(REDIS_BROKER), flushed_redis(REDIS_BACKEND):
        yield Broker("redis", REDIS_BROKER, REDIS_BACKEND)


ProjectFactory = Callable[..., Project]


@pytest.fixture
def make_project(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProjectFactory]:
    """``make_project(tasks_source, conf="", preamble="", urls=None)`` writes and imports a
    task module.

    ``conf`` is code run right after the app is created (settings); ``preamble`` runs before
    (imports, logging.config); ``urls`` overrides (broker, backend). Apps are closed after the
    test.
    """
    monkeypatch.chdir(tmp_path)
    made: list[Project] = []

    def make(
        source: str, conf: str = "", preamble: str = "", urls: tuple[str, str] | None = None
    ) -> Project:
        name = unique_name("promises")
        broker_url, backend_url = urls or (broker.broker_url, broker.backend_url)
        header = HEADER.format(
            name=name,
            broker=broker_url,
            backend=backend_url,
            queue=f"q.{name}",
            conf=textwrap.dedent(conf),
            preamble=textwrap.dedent(preamble),
        )
        (tmp_path / f"{name}.py").write_text(header + textwrap.dedent(source))
        project = Project(name, import_app_module(tmp_path, name), tmp_path, broker)
        made.append(project)
        return project

    yield make
    for project in made:
        project.app.close()


def wait_ready(worker: WorkerProcess, timeout: float = 30) -> None:
    """Until the worker logged that it is consuming (needs ``-l info``)."""
    wait_until(lambda: " ready." in worker.log(), timeout, message="the worker to be ready")


def wait_for_state(result: Any, state: str, timeout: float = 30) -> None:
    wait_until(
        lambda: result.state == state,
        timeout,
        interval=0.01,
        message=f"state {state} of {result.id}",
    )


def wait_exit(worker: WorkerProcess, timeout: float) -> int | None:
    """The worker's exit code once it exits, or None if it is still running at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = worker.process.poll()
        if code is not None:
            return code
        time.sleep(0.02)
    return worker.process.poll()


def run_times(project: Project, word: str) -> list[float]:
    """Times recorded by events ``<word> <time.time()> ...`` in the order they happened."""
    return [float(line.split()[1]) for line in project.events_with(word)]


__all__ = [
    "Broker",
    "Project",
    "ProjectFactory",
    "broker",
    "make_project",
    "run_times",
    "wait_exit",
    "wait_for_state",
    "wait_ready",
]
