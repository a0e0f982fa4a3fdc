"""The ``Celery`` application: a facade over settings, the task registry, the producer and
the result store. Everything heavy is built lazily on first use and rebuilt after ``fork``."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload

from celeriac import _state
from celeriac.app.annotations import annotate
from celeriac.app.annotations import prepare as prepare_annotations
from celeriac.app.autodiscover import autodiscover, import_modules
from celeriac.app.broker_api import AppBrokerAccess
from celeriac.app.components import AppComponents
from celeriac.app.configuration import AppConfiguration, PackageSource
from celeriac.app.connections import AppConnections
from celeriac.app.fixups import BUILTIN_FIXUPS, apply_fixups
from celeriac.app.registry import TaskRegistry
from celeriac.app.routing import TaskRouter
from celeriac.app.task import Task, make_task_class
from celeriac.config import Settings
from celeriac.utils.dispatch import Signal
from celeriac.utils.ids import new_id

if TYPE_CHECKING:
    from celeriac.app.producer import Producer
    from celeriac.app.send import SendDefaults
    from celeriac.backends.base import ResultBackend
    from celeriac.control import Control
    from celeriac.results.async_result import AsyncResult
    from celeriac.transport.base import Outbound, Transport


class Celery(AppConnections, AppConfiguration, AppBrokerAccess, AppComponents):
    """A celeriac application (``Celeriac`` is the same class).

    Args:
        main: name of the main module, used to name tasks defined in ``__main__``.
        broker: broker URL; with none anywhere, the embedded SQLite file ``celeriac.db`` in
            the working folder is both broker and result store.
        backend: result store URL.
        include: modules to import when a worker starts.
        task_cls: the base class of the app's tasks (a class or ``'module:Class'``).
        fixups: the fix-ups to apply (import strings); default ``BUILTIN_FIXUPS`` (Django's).
    """

    #: The base task class when ``task_cls=`` is not given; a subclass may set its own.
    #: The Django fix-up replaces the default (never a class the user chose) by ``DjangoTask``.
    task_cls: type[Task[Any, Any]] | str = "celeriac.app.task:Task"

    #: Whether ``finalize`` ran (its signals fire once).
    _finalized: bool = False
    #: ``app/send.py``'s snapshot of the settings every send reads, per settings version.
    _send_defaults: SendDefaults | None = None

    def __init__(
        self,
        main: str | None = None,
        broker: str | None = None,
        backend: str | None = None,
        include: Sequence[str] | None = None,
        config_source: Any = None,
        set_as_current: bool = True,
        task_cls: type[Task[Any, Any]] | str | None = None,
        autofinalize: bool = True,
        fixups: Iterable[str] | None = None,
        loader: type[Any] | str | None = None,
        log: type[Any] | str | None = None,
        changes: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        self.main = main
        self.conf = Settings(changes)
        self._init_components()
        if loader is not None:
            self.loader_cls = loader
        if log is not None:
            self.log_cls = log
        if config_source is not None:
            self.config_from_object(config_source)
        if broker:
            self.conf.broker_url = broker
        if backend:
            self.conf.result_backend = backend
        if include:
            self.conf.include = list(include)
        if settings:
            self.conf.update(settings)
        self.tasks = TaskRegistry()
        self._custom_task_cls_used = task_cls is not None or (
            type(self).task_cls is not Celery.task_cls)
        if task_cls is not None:
            self.task_cls = task_cls
        self.fixups = set(BUILTIN_FIXUPS if fixups is None else fixups)
        #: The fix-ups that applied, held here: their signal receivers are weak references.
        self._fixups = apply_fixups(self, self.fixups)
        self.Task = self._make_base_task(self.task_cls)
        self.oid = new_id()
        self.on_configure = Signal("app.on_configure")
        self.on_after_configure = Signal("app.on_after_configure")
        self.on_after_finalize = Signal("app.on_after_finalize")
        self.on_after_fork = Signal("app.on_after_fork")
        self._lock = threading.RLock()
        self._transport: Transport | None = None
        self._producer: Producer | None = None
        self._backend: ResultBackend | None = None
        self._router: TaskRouter | None = None
        self._control: Control | None = None
        self._before_publish: Callable[[str], None] | None = None
        self._pending_autodiscover: list[tuple[PackageSource, str]] = []
        self._import_modules_sent = False
        self.periodic_tasks: dict[str, dict[str, Any]] = {}
        from celeriac.app.builtins import register_builtins

        register_builtins(self)
        _state.register_app(self)
        if set_as_current and _state.is_fallback_default():
            _state.set_default_app(self)
        self.set_as_current, self.autofinalize = set_as_current, autofinalize
        if not autofinalize:
            import warnings

            from celeriac.exceptions import CeleriacWarning

            warnings.warn("autofinalize=False is not supported: app.tasks is usable at once "
                          "and no RuntimeError is raised before finalize()", CeleriacWarning,
                          stacklevel=2)
        self.on_init()

    def _make_base_task(self, task_cls: type[Task[Any, Any]] | str) -> type[Task[Any, Any]]:
        base: type[Task[Any, Any]]
        if isinstance(task_cls, str):
            from celeriac.utils.imports import import_symbol

            base = import_symbol(task_cls)
        else:
            base = task_cls
        return type(base.__name__, (base,), {"app": self, "abstract": True,
                                             "__module__": base.__module__})

    def __repr__(self) -> str:
        return f"<Celery {self.main or '__main__'} at {id(self):#x}>"

    def set_current(self) -> None:
        """Make this the current app (``celeriac.current_app``) of this thread or asyncio task.

        Celery keeps it per thread; here it is a context variable, which is per thread too
        and also follows asyncio tasks. ``set_default`` is the process-wide fallback.
        """
        _state.current_app_var.set(self)

    def set_default(self) -> None:
        """Make this the default app of every thread: what ``current_app`` and
        ``shared_task`` use where no current app was set (Flask's pattern calls it)."""
        _state.set_default_app(self)

    # -- tasks ----------------------------------------------------------------------
    @overload
    def task(self, fun: Callable[..., Any], /) -> Task[Any, Any]: ...
    @overload
    def task(self, **options: Any) -> Callable[[Callable[..., Any]], Task[Any, Any]]: ...
    def task(self, *args: Any, **options: Any) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(bind=True, ...)``."""
        if args and callable(args[0]) and not options:
            return self._create_task(args[0])

        def decorate(fun: Callable[..., Any]) -> Task[Any, Any]:
            return self._create_task(fun, **options)

        return decorate

    def _create_task(
        self,
        fun: Callable[..., Any],
        *,
        name: str | None = None,
        base: type[Task[Any, Any]] | None = None,
        bind: bool = False,
        shared: bool = True,
        **options: Any,
    ) -> Task[Any, Any]:
        task_name = name or self.gen_task_name(fun.__name__, fun.__module__)
        if task_name in self.tasks:
            return self.tasks[task_name]
        cls = make_task_class(self, fun, name=task_name, base=base, bind=bind, options=options)
        task = cls()
        self.tasks.register(task)
        self._annotate([task])
        return task

    def _annotate(self, tasks: Iterable[Task[Any, Any]]) -> None:
        """Apply ``task_annotations`` (see ``celeriac.app.annotations``) to ``tasks``."""
        setting = self.conf.task_annotations
        if setting is not None:
            annotations = prepare_annotations(setting)
            for task in tasks:
                annotate(task, annotations)

    def gen_task_name(self, name: str, module: str) -> str:
        """``module.name``, with ``__main__`` replaced by the app's main name (as Celery)."""
        if module == "__main__" and self.main:
            module = self.main
        return f"{module}.{name}"

    def register_task(self, task: Task[Any, Any] | type[Task[Any, Any]]) -> Task[Any, Any]:
        """Register a class-based task (a ``Task`` subclass with ``name`` and ``run``)."""
        instance = task() if isinstance(task, type) else task
        type(instance).bind(self)  # sets ``app``, resolves ``typing``, calls ``on_bound``
        self.tasks.register(instance)
        self._annotate([instance])
        return instance

    # -- configuration (more in app/configuration.py) -------------------------------
    def loader_import_modules(self) -> None:
        """Import ``include``/``imports`` and pending autodiscovery (worker start-up).

        The first call sends ``import_modules`` (sender: the app) first, as Celery's loader
        does; a receiver that raises stops the start-up, since logging may not be set up yet.
        """
        if not self._import_modules_sent:
            self._import_modules_sent = True
            from celeriac import signals

            for _, response in signals.import_modules.send(sender=self):
                if isinstance(response, Exception):
                    raise response
        import_modules(list(self.conf.imports or ()) + list(self.conf.include or ()))
        pending, self._pending_autodiscover = self._pending_autodiscover, []
        for packages, related_name in pending:
            resolved = packages() if callable(packages) else packages
            autodiscover(list(resolved), related_name)
        self.finalize()

    @property
    def finalized(self) -> bool:
        return self._finalized

    def finalize(self, auto: bool = False) -> None:
        """Fire ``on_configure``, ``on_after_configure`` (``source``: the settings) and
        ``on_after_finalize`` once, in Celery's order (beat entries hook in here)."""
        if self._finalized:
            return
        self._finalized = True
        self._annotate(list(self.tasks.values()))  # configured after the tasks were defined
        self.on_configure.send(sender=self)
        self.on_after_configure.send(sender=self, source=self.conf)
        self.on_after_finalize.send(sender=self)

    def add_periodic_task(self, schedule: Any, sig: Any, args: Sequence[Any] = (),
                          kwargs: Mapping[str, Any] | None = None, name: str | None = None,
                          **options: Any) -> str:
        key = name or repr(sig)
        self.periodic_tasks[key] = {"schedule": schedule, "task": sig, "args": tuple(args),
                                    "kwargs": dict(kwargs or {}), "options": options}
        return key

    # -- sending ----------------------------------------------------------------------
    def send_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        _task: Task[Any, Any] | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Send a task by name; the name need not be registered in this process."""
        from celeriac.app.send import build_outbound

        task = _task if _task is not None else self.tasks.get(name)
        outbound, task_id, plan = build_outbound(self, name, args, kwargs, options, task)
        if self._backend is None and str(self.conf.result_backend or "").startswith("rpc"):
            self.backend  # noqa: B018 - builds the rpc store, which must see every send
        if self._before_publish is not None and not outbound.message.headers.get(
                "ignore_result"):
            self._before_publish(task_id)  # rpc://: the reply queue must exist first
        self.producer.publish(outbound)
        if plan.sent_event:
            self.events.task_sent(outbound, plan.queue)
        result = self.AsyncResult(task_id, task_name=name)
        result.ignored = bool(plan.message_options["ignore_result"])  # Celery 5.7: get() -> None
        return result

    def send_many(
        self,
        name: str,
        calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]],
        _task: Task[Any, Any] | None = None,
        **options: Any,
    ) -> list[AsyncResult]:
        """Send many calls of one task in one round trip; options and routes apply to all.

        The options are merged once for the whole batch, so this is the fastest way to
        enqueue work (``Task.delay_many`` is the usual entry point).
        """
        from celeriac.app.send import outbound_for, plan_send

        task = _task if _task is not None else self.tasks.get(name)
        plan = plan_send(self, name, dict(options), task)
        if self._backend is None and str(self.conf.result_backend or "").startswith("rpc"):
            self.backend  # noqa: B018 - builds the rpc store, which must see every send
        ids: list[str] = []
        batch: list[Outbound] = []
        for args, kwargs in calls:
            task_id = new_id()
            ids.append(task_id)
            batch.append(outbound_for(plan, name, task_id, args, kwargs))
        if self._before_publish is not None and not plan.message_options["ignore_result"]:
            for task_id in ids:
                self._before_publish(task_id)
        with self.producer.batch() as pending:
            pending.extend(batch)
        if plan.sent_event:
            for outbound in batch:
                self.events.task_sent(outbound, plan.queue)
        return [self.AsyncResult(task_id, task_name=name) for task_id in ids]

    def publish_raw(self, batch: Sequence[Outbound]) -> None:
        self.producer.publish_many(batch)

    @contextmanager
    def publish_batch(self) -> Iterator[None]:
        """Send every ``delay()``/``apply_async()`` made inside the block in one round trip."""
        with self.producer.batch():
            yield

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:
        from celeriac.results.async_result import AsyncResult

        return AsyncResult(task_id, app=self, **kwargs)

    def signature(self, name: Any, args: Sequence[Any] | None = None,
                  kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """A signature by task name, or rebuilt from a signature dict (any canvas type)."""
        from celeriac.canvas.signature import Signature

        if isinstance(name, Mapping):
            return Signature.from_dict(name, app=self)
        return Signature(name, args, kwargs, options=options, app=self)

    def GroupResult(self, id: str, results: Sequence[Any] | None = None,
                    **kwargs: Any) -> Any:
        from celeriac.results.group_result import GroupResult

        return GroupResult(id, results, app=self, **kwargs)

    # -- running ----------------------------------------------------------------------
    def worker_main(self, argv: Sequence[str] | None = None) -> None:
        self.start(["worker", *(argv or [])])

    def start(self, argv: Sequence[str] | None = None) -> None:
        """Run the ``celeriac`` command line with this app, as ``app.start()`` does in Celery."""
        from celeriac.cli.main import run_with_app

        run_with_app(self, list(argv) if argv is not None else None)


Celeriac = Celery


def _reset_apps_after_fork() -> None:
    for app in _state.live_apps():
        app._after_fork()
        app.on_after_fork.send(sender=app)


def _make_default_app() -> Celery:
    """The app ``current_app`` falls back to before any was made (for ``shared_task``)."""
    return Celery("default", set_as_current=False)


_state.set_app_factory(_make_default_app)
os.register_at_fork(after_in_child=_reset_apps_after_fork)
