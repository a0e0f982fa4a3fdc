"""An embedded worker for tests, as Celery's ``celery.contrib.testing.worker``.

``start_worker(app)`` runs a real celeriac ``Worker`` on a thread of the test's process (the
solo pool by default), waits until it consumes, checks it answers ``celery.ping``, and stops
and joins it when the block ends.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from types import ModuleType
from typing import Any

from celeriac import signals
from celeriac.app.base import Celery
from celeriac.results.async_result import allow_join_result
from celeriac.utils.dispatch import Signal
from celeriac.worker.worker import Worker, WorkerOptions

#: Celery's default, from the same environment variable.
WORKER_LOGLEVEL = os.environ.get("WORKER_LOGLEVEL", "error")

test_worker_starting = Signal(name="test_worker_starting")
test_worker_started = Signal(name="test_worker_started")
test_worker_stopped = Signal(name="test_worker_stopped")

_OPTION_NAMES = frozenset(field.name for field in fields(WorkerOptions))


class TestWorkController(Worker):
    """A worker that can wait until it is fully started (Celery's name)."""

    __test__ = False  # not a test class, for pytest

    def __init__(self, app: Celery, options: WorkerOptions) -> None:
        self._on_started = threading.Event()
        super().__init__(app, options)
        signals.worker_ready.connect(self._on_ready, weak=False)

    def _on_ready(self, sender: Any = None, **_: Any) -> None:
        if sender is self:
            signals.worker_ready.disconnect(self._on_ready)
            self._on_started.set()
            test_worker_started.send(sender=self.app, worker=self, consumer=self.consumer)

    def reload(self, modules: Sequence[str] | None = None, reload: bool = False,
               reloader: Callable[[ModuleType], Any] | None = None) -> None:
        """Import ``modules`` (re-import them with ``reload=True``), as Celery's
        ``WorkController.reload``. Tasks defined since the worker started need nothing:
        the worker finds every task of its app by name when a message arrives."""
        for name in modules or ():
            if reload and name in sys.modules:
                (reloader or importlib.reload)(sys.modules[name])
            else:
                importlib.import_module(name)

    def ensure_started(self, timeout: float | None = None) -> None:
        """Wait until the worker consumes; the worker must run on another thread."""
        if not self._on_started.wait(timeout):
            raise RuntimeError("The embedded worker did not start in time")


def anon_nodename() -> str:
    """Celery's anonymous node name: ``gen<pid>@<host>``."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


@contextmanager
def start_worker(
    app: Celery,
    concurrency: int = 1,
    pool: str = "solo",
    loglevel: str | int = WORKER_LOGLEVEL,
    logfile: str | None = None,
    perform_ping_check: bool = True,
    ping_task_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    **kwargs: Any,
) -> Iterator[TestWorkController]:
    """Start an embedded worker for ``app``; yield it; stop it when the block ends.

    ``kwargs`` are worker options (``queues``, ``hostname``, ``prefetch_multiplier``,
    ``without_heartbeat``...); one celeriac's worker does not have raises ``TypeError``.
    """
    test_worker_starting.send(sender=app)
    worker = None
    try:
        with _start_worker_thread(app, concurrency=concurrency, pool=pool, loglevel=loglevel,
                                  logfile=logfile, perform_ping_check=perform_ping_check,
                                  shutdown_timeout=shutdown_timeout, **kwargs) as worker:
            if perform_ping_check:
                with allow_join_result():
                    pong = app.tasks["celery.ping"].delay().get(timeout=ping_task_timeout)
                assert pong == "pong"
            yield worker
    finally:
        test_worker_stopped.send(sender=app, worker=worker)


@contextmanager
def _start_worker_thread(app: Celery, concurrency: int = 1, pool: str = "solo",
                         loglevel: str | int = WORKER_LOGLEVEL, logfile: str | None = None,
                         WorkController: type[TestWorkController] = TestWorkController,
                         perform_ping_check: bool = True, shutdown_timeout: float = 10.0,
                         **kwargs: Any) -> Iterator[TestWorkController]:
    setup_app_for_worker(app, loglevel, logfile)
    if perform_ping_check:
        assert "celery.ping" in app.tasks
    options = _worker_options(app, concurrency, pool, shutdown_timeout, kwargs)
    worker = WorkController(app, options)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(install_signals=False)
        except BaseException as exc:  # reported to the test, not lost on the thread
            failure.append(exc)
            worker._on_started.set()

    thread = threading.Thread(target=run, name="celeriac-test-worker", daemon=True)
    thread.start()
    try:
        worker.ensure_started()
        if failure:
            raise failure[0]
        yield worker
    finally:
        signals.worker_ready.disconnect(worker._on_ready)
        worker.stop()
        thread.join(shutdown_timeout)
        if thread.is_alive():
            raise RuntimeError(
                "Worker thread failed to exit within the allocated timeout. Consider raising "
                "`shutdown_timeout` if your tasks take longer to execute.")


def _worker_options(app: Celery, concurrency: int, pool: str, shutdown_timeout: float,
                    kwargs: dict[str, Any]) -> WorkerOptions:
    """``WorkerOptions`` from Celery's ``WorkController`` keywords."""
    kwargs = dict(kwargs)
    if "queues" in kwargs:
        kwargs["queues"] = _names(kwargs["queues"])
    excluded = _names(kwargs.pop("exclude_queues", ()))
    if excluded:  # ``-X``: the queues to consume, less these
        wanted = _names(kwargs.get("queues", ())) or [str(app.conf.task_default_queue)]
        kwargs["queues"] = [name for name in wanted if name not in excluded]
    kwargs.setdefault("hostname", anon_nodename())
    # Celery's test worker runs without heartbeats, mingle and gossip: celeriac has no
    # mingle or gossip, so only asking for them is refused.
    if kwargs.pop("without_heartbeat", True):
        kwargs.setdefault("heartbeat_interval", 0)
    for name in ("without_mingle", "without_gossip"):
        if not kwargs.pop(name, True):
            raise TypeError(f"start_worker({name}=False): celeriac's worker has no "
                            f"{name.removeprefix('without_')}")
    unknown = sorted(set(kwargs) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"start_worker() got worker options celeriac does not have: "
                        f"{', '.join(unknown)}")
    return WorkerOptions(concurrency=concurrency, pool=pool,
                         shutdown_timeout=shutdown_timeout, **kwargs)


def _names(value: str | Sequence[str]) -> list[str]:
    """Queue names from a list or a comma-separated string (Celery's docs pass both)."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return list(value)


def setup_app_for_worker(app: Celery, loglevel: str | int, logfile: str | None) -> None:
    """Finalize ``app``, make it current and default, and set up its logging (nothing for a
    ``TestApp`` without ``enable_logging``: its ``UnitLogging`` counts as set up)."""
    app.finalize()
    app.set_current()
    app.set_default()
    app.log.setup(loglevel=loglevel, logfile=logfile)
