"""The app's component objects as Celery exposes them: ``loader``, ``log``, ``Worker``,
``steps``/``user_options``, ``subclass_with_self`` and ``bugreport()``.

A mixin of ``Celery``, split out of ``app/base.py``; each object is built on first use.
"""

from __future__ import annotations

import platform
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from celeriac import _state
from celeriac.utils.imports import import_symbol

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.loader import Loader
    from celeriac.app.log import Logging
    from celeriac.config import Settings


def _resolve(cls: type[Any] | str) -> type[Any]:
    return import_symbol(cls) if isinstance(cls, str) else cls


def make_worker_class(app: Celery) -> type[Any]:
    """``app.Worker``: a worker for this app built from Celery's keyword arguments."""
    from celeriac.worker.worker import Worker, WorkerOptions

    class AppWorker(Worker):
        """``app.Worker(hostname=..., pool_cls='solo', concurrency=1, queues=[...]).start()``.

        Celery's keywords map to ``celeriac worker``'s options; ``loglevel``/``logfile``
        set logging up through ``app.log``. Others raise ``TypeError``.
        """

        def __init__(self, hostname: str | None = None, pool_cls: str | None = None,
                     pool: str | None = None, concurrency: int | None = None,
                     queues: str | Sequence[str] | None = None, beat: bool = False,
                     schedule_filename: str | None = None, statedb: str | None = None,
                     autoscale: tuple[int, int] | None = None,
                     prefetch_multiplier: int | None = None,
                     max_tasks_per_child: int | None = None,
                     max_memory_per_child: int | None = None,
                     loglevel: str | int | None = None, logfile: str | None = None,
                     without_heartbeat: bool = False, **unsupported: Any) -> None:
            if unsupported:
                raise TypeError(f"app.Worker() does not support {sorted(unsupported)}")
            conf = app.conf
            if loglevel is not None or logfile is not None:
                app.log.setup(loglevel, logfile, hostname=hostname)
            names = queues.split(",") if isinstance(queues, str) else list(queues or ())
            super().__init__(app, WorkerOptions(
                queues=[name.strip() for name in names if name.strip()],
                concurrency=concurrency or int(conf.worker_concurrency or 0),
                pool=str(pool_cls or pool or conf.worker_pool or "prefork"),
                hostname=hostname or "", prefetch_multiplier=prefetch_multiplier,
                max_tasks_per_child=max_tasks_per_child or conf.worker_max_tasks_per_child,
                max_memory_per_child=(max_memory_per_child
                                      or conf.worker_max_memory_per_child),
                beat=beat, schedule_filename=schedule_filename, statedb=statedb,
                autoscale=autoscale, heartbeat_interval=0 if without_heartbeat else None))

        def start(self) -> int:
            """Run until shutdown; returns the exit status (signals only on the main thread)."""
            return self.run(install_signals=threading.current_thread()
                            is threading.main_thread())

    AppWorker.__module__ = Worker.__module__
    AppWorker.__name__ = AppWorker.__qualname__ = "Worker"
    return AppWorker


class AppBeat:
    """``app.Beat(scheduler=..., schedule=..., max_interval=...).run()``: beat in this
    process, blocking until ``stop()`` (or SIGTERM/SIGINT when run on the main thread)."""

    app: Celery

    def __init__(self, max_interval: float | None = None, scheduler: str | None = None,
                 scheduler_cls: str | None = None, schedule: str | None = None,
                 loglevel: str | int | None = None, logfile: str | None = None,
                 **unsupported: Any) -> None:
        if unsupported:
            raise TypeError(f"app.Beat() does not support {sorted(unsupported)}")
        self.max_interval, self.schedule = max_interval, schedule
        self.scheduler_cls = scheduler or scheduler_cls
        self.loglevel, self.logfile = loglevel, logfile
        self._stop = threading.Event()

    def run(self) -> None:
        import signal

        from celeriac.beat.embedded import build_scheduler, send_beat_init

        if self.loglevel is not None or self.logfile is not None:
            self.app.log.setup(self.loglevel, self.logfile)
        scheduler = build_scheduler(self.app, self.scheduler_cls, self.schedule,
                                    self.max_interval)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self._stop.set())
        send_beat_init(scheduler, embedded=False)
        scheduler.run(self._stop)

    def stop(self) -> None:
        self._stop.set()


class AppComponents:
    """Mixin of ``Celery``: Celery's component attributes."""

    conf: Settings
    main: str | None
    #: ``Celery(loader=...)``/``Celery(log=...)``, or a subclass's: class or import string.
    loader_cls: type[Any] | str = "celeriac.app.loader:Loader"
    log_cls: type[Any] | str = "celeriac.app.log:Logging"
    _loader: Loader | None = None
    _log: Logging | None = None
    _worker_cls: type[Any] | None = None

    def _init_components(self) -> None:
        #: Custom bootsteps: ``app.steps['worker'].add(Step)``, ``['consumer']`` likewise.
        self.steps: defaultdict[str, set[type[Any]]] = defaultdict(set)
        #: Extra click options per command: ``'worker'`` ones reach bootsteps' ``__init__``.
        self.user_options = _UserOptions()

    @property
    def loader(self) -> Loader:
        """The app's loader; ``loader_cls`` may be Celery's aliases ``'app'``/``'default'``."""
        if self._loader is None:
            cls = self.loader_cls
            if cls in ("app", "default"):
                cls = AppComponents.loader_cls
            self._loader = _resolve(cls)(app=self)
        return self._loader

    @property
    def log(self) -> Logging:
        if self._log is None:
            self._log = _resolve(self.log_cls)(app=self)
        return self._log

    @property
    def Worker(self) -> type[Any]:
        if self._worker_cls is None:
            self._worker_cls = make_worker_class(self)  # type: ignore[arg-type]  # a Celery
        return self._worker_cls

    WorkController = Worker

    @property
    def Beat(self) -> type[AppBeat]:
        return self.subclass_with_self(AppBeat, name="Beat")

    def subclass_with_self(self, Class: type[Any] | str, name: str | None = None,
                           attribute: str = "app", reverse: str | None = None,
                           keep_reduce: bool = False, **kw: Any) -> type[Any]:
        """A subclass of ``Class`` whose ``attribute`` (default ``app``) is this app."""
        base = _resolve(Class)
        attrs = {attribute: self, "__module__": base.__module__, "__doc__": base.__doc__,
                 **kw}
        return type(name or base.__name__, (base,), attrs)

    # -- smaller parts of Celery's app API -----------------------------------------------
    SYSTEM = platform.system()
    IS_macOS = SYSTEM == "Darwin"
    IS_WINDOWS = SYSTEM == "Windows"
    #: celeriac reads settings eagerly: the app is configured from the start.
    configured = True

    def on_init(self) -> None:
        """Called at the end of ``__init__``, for subclasses (Celery's hook)."""

    @property
    def current_task(self) -> Any:
        """The task running in this thread (or asyncio task), or None."""
        return _state.get_current_task()

    @property
    def current_worker_task(self) -> Any:
        """The running task when a worker started it (not called directly or eagerly)."""
        request = _state.request_var.get()
        if request is None or request.called_directly or request.is_eager:
            return None
        return _state.get_current_task()

    @property
    def clock(self) -> Any:
        """The app's Lamport clock (shared with ``app.events``' dispatchers)."""
        return self._app_self.events.clock

    @property
    def thread_oid(self) -> str:
        """An id of this app in this thread (Celery's, used to name reply queues)."""
        local = self.__dict__.setdefault("_thread_oids", threading.local())
        if not hasattr(local, "oid"):
            from celeriac.utils.ids import new_id

            local.oid = new_id()
        return str(local.oid)

    @property
    def annotations(self) -> Any:
        from celeriac.app.annotations import prepare

        return prepare(self.conf.task_annotations)

    def either(self, default_key: str, *defaults: Any) -> Any:
        """The first of ``defaults`` that is not None, else the setting ``default_key``."""
        return next((value for value in defaults if value is not None),
                    self.conf.get(default_key))

    def uses_utc_timezone(self) -> bool:
        return bool(self._app_self.timezone == UTC)

    def prepare_config(self, c: Any) -> Any:
        return c

    def create_task_cls(self) -> type[Any]:
        """A new base task class bound to this app (``app.Task`` is one)."""
        return self._app_self._make_base_task(self._app_self.task_cls)

    def ResultSet(self, results: Any, **kwargs: Any) -> Any:
        from celeriac.results.group_result import ResultSet

        return ResultSet(results, app=self._app_self, **kwargs)

    def setup_security(self, *args: Any, **kwargs: Any) -> None:
        """Celery's message signing (the ``auth`` serializer) is not supported."""
        raise NotImplementedError("celeriac does not support message signing "
                                  "(setup_security, the 'auth' serializer)")

    @property
    def _app_self(self) -> Celery:
        return self  # type: ignore[return-value]  # the mixin is only used by Celery

    def bugreport(self) -> str:
        """Versions, platform, transport, result store and settings (secrets masked)."""
        from celeriac import __version__
        from celeriac.config import redact_url

        app = self._app_self
        backend = app.result_backend_url
        return (f"software -> celeriac:{__version__} py:{platform.python_version()}\n"
                f"            platform -> system:{platform.system()} "
                f"arch:{platform.machine()} kernel version:{platform.release()}\n"
                f"            loader   -> {type(self.loader).__module__}."
                f"{type(self.loader).__qualname__}\n"
                f"settings -> transport:{app.broker_url.split(':', 1)[0]} "
                f"results:{redact_url(backend) if backend else 'disabled'}\n\n"
                f"{self.conf.humanize()}\n")


class _UserOptions(defaultdict[str, set[Any]]):
    """``app.user_options``: click options ``celeriac worker`` adds (``cli/user_options.py``)
    and passes to bootsteps. Other commands (``preload`` too) do not read them, so adding one
    there fails loudly instead of being silently ignored."""

    def __init__(self) -> None:
        super().__init__(set)

    def __missing__(self, command: str) -> set[Any]:
        self[command] = options = set() if command == "worker" else _RefusingSet(command)
        return options


class _RefusingSet(set[Any]):
    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def add(self, option: Any) -> None:
        raise NotImplementedError(
            f"app.user_options[{self.command!r}] is not supported: only 'worker' options "
            "are read (by celeriac worker, for bootsteps). Read your own environment "
            "variable or setting instead.")

    def update(self, *others: Any) -> None:
        if any(others):
            self.add(None)


__all__ = ["AppComponents", "make_worker_class"]
