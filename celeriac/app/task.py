"""``Task``: the class every ``@app.task`` function becomes (import path ``celery.app.task``).

Options live as class attributes; ``None`` means "use the app's setting", resolved when read,
so tasks can be created eagerly at decoration time (no lazy proxies).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar

from celeriac import states
from celeriac._state import current_task_var, request_var
from celeriac.app.request_stack import REQUEST_STACK, RequestStack, build_context
from celeriac.app.task_binding import BindingMixin
from celeriac.app.task_retry import RetryMixin
from celeriac.app.task_typing import header_from
from celeriac.exceptions import MaxRetriesExceededError, OperationalError
from celeriac.execution.context import Context as Context  # re-exported: celery.app.task

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.send import SendPlan
    from celeriac.canvas.signature import Signature
    from celeriac.results.async_result import AsyncResult

P = ParamSpec("P")
R = TypeVar("R")

class Task(BindingMixin, RetryMixin, Generic[P, R]):
    """A registered task. ``task(*a)`` runs it here; ``task.delay(*a)`` sends it to a worker.

    Not here, deliberately: Celery's ``Strategy`` and ``Request`` (see ``BindingMixin``).
    """

    name: ClassVar[str] = ""
    app: ClassVar[Celery]
    #: Check the arguments of ``delay``/``apply_async`` against the task function's
    #: signature (TypeError when they cannot bind). None: the app's ``strict_typing``.
    typing: ClassVar[bool | None] = None
    MaxRetriesExceededError: ClassVar[type[MaxRetriesExceededError]] = MaxRetriesExceededError
    OperationalError: ClassVar[type[OperationalError]] = OperationalError
    #: Celery's per-class stack of requests; here one stack shared by every task (see
    #: ``app/request_stack.py``).
    request_stack: ClassVar[RequestStack] = REQUEST_STACK
    #: The argument check made from the task function (``typing``); None: no check.
    __header__: ClassVar[Callable[..., Any] | None] = None
    #: Set for ``pydantic=True`` tasks: dumps the models a caller passes.
    _dump_pydantic_arguments: ClassVar[Callable[..., Any] | None] = None

    # Options, Celery's names. None: take the app's setting.
    serializer: ClassVar[str | None] = None
    compression: ClassVar[str | None] = None
    ignore_result: ClassVar[bool | None] = None
    store_eager_result: ClassVar[bool | None] = None
    store_errors_even_if_ignored: ClassVar[bool | None] = None
    track_started: ClassVar[bool | None] = None
    acks_late: ClassVar[bool | None] = None
    acks_on_failure_or_timeout: ClassVar[bool | None] = None
    acks_on_failure: ClassVar[bool | None] = None
    reject_on_worker_lost: ClassVar[bool | None] = None
    queue: ClassVar[str | None] = None
    routing_key: ClassVar[str | None] = None
    exchange: ClassVar[str | None] = None
    priority: ClassVar[int | None] = None
    expires: ClassVar[float | datetime | None] = None
    time_limit: ClassVar[float | None] = None
    soft_time_limit: ClassVar[float | None] = None
    rate_limit: ClassVar[str | None] = None
    max_retries: ClassVar[int | None] = 3
    default_retry_delay: ClassVar[float] = 180
    autoretry_for: ClassVar[tuple[type[BaseException], ...]] = ()
    dont_autoretry_for: ClassVar[tuple[type[BaseException], ...]] = ()
    retry_kwargs: ClassVar[Mapping[str, Any]] = {}
    retry_backoff: ClassVar[bool | float] = False
    retry_backoff_max: ClassVar[int] = 600
    retry_jitter: ClassVar[bool] = True
    throws: ClassVar[tuple[type[BaseException], ...]] = ()
    resultrepr_maxsize: ClassVar[int] = 1024
    trail: ClassVar[bool] = True
    send_events: ClassVar[bool] = True
    abstract: ClassVar[bool] = True
    #: ``app/send.py``'s plan of a plain ``delay()``, keyed by (settings version, pid,
    #: router): rebuilt when the settings change or the process forks.
    _send_plan: tuple[Any, SendPlan] | None = None

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """The task body; the task factory replaces it with the decorated function."""
        raise NotImplementedError("Tasks must define the run method.")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the body here, as a plain call, under a request of its own (as Celery does).

        A task called directly inside another task must not see the outer task's
        ``self.request`` (id, args) nor ``retry()`` under the outer id, so a fresh context is
        pushed. One exception, Celery's "stack protection": when the worker runs a task whose
        class overrides ``__call__`` (Flask's app-context pattern) and that override calls
        ``super().__call__``, the worker's request is adopted, once, instead of hidden.
        """
        current = request_var.get()
        if (current is not None and not current._protected and not current.called_directly
                and current.task == self.name):
            current._protected = 1
            return self.run(*args, **kwargs)
        token = request_var.set(Context(args=list(args), kwargs=dict(kwargs), task=self.name))
        task_token = current_task_var.set(self)
        try:
            return self.run(*args, **kwargs)
        finally:
            current_task_var.reset(task_token)
            request_var.reset(token)

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {self.app.main}>"

    # -- context --------------------------------------------------------------------
    @property
    def request(self) -> Context:
        """The request being executed in this thread/task, or an empty one when called directly."""
        return request_var.get() or Context(task=self.name)

    def push_request(self, *args: Any, **kwargs: Any) -> object:
        """Make a request current: a ``Context``, or as Celery's, the current request
        updated from a dict and keywords (``task.push_request(retries=2)`` in a test)."""
        if len(args) == 1 and not kwargs and isinstance(args[0], Context):
            return self.request_stack.push(args[0])
        return self.request_stack.push(build_context(self.request, *args, **kwargs))

    def pop_request(self, token: Any = None) -> None:
        """Undo the innermost ``push_request`` (``token``: accepted, not needed)."""
        self.request_stack.pop()

    # -- sending --------------------------------------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult:
        """Send the task with these arguments; a shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        task_id: str | None = None,
        link: Any = None,
        link_error: Any = None,
        **options: Any,
    ) -> AsyncResult:
        """Send the task with options (countdown, eta, expires, queue, priority, ...).

        Raises:
            TypeError: the arguments do not fit the task function (unless ``typing`` is
                off), as Celery's ``check_arguments``.
            ValueError: ``soft_time_limit`` is above ``time_limit``.
        """
        if self.soft_time_limit and self.time_limit and self.soft_time_limit > self.time_limit:
            raise ValueError("soft_time_limit must be less than or equal to time_limit")
        if self.__header__ is not None and self.typing:
            self.__header__(*(args or ()), **(kwargs or {}))
        if type(self).shadow_name is not Task.shadow_name and not options.get("shadow"):
            options["shadow"] = self.shadow_name(args, kwargs, options)
        if (self._dump_pydantic_arguments is not None
                and options.get("serializer") != "pickle"):
            args, kwargs = self._dump_pydantic_arguments(args, kwargs)
        if self.app.conf.task_always_eager:
            from celeriac.app.eager import apply_always_eager

            return apply_always_eager(self, args, kwargs, task_id, link, link_error, options)
        result = self.app.send_task(
            self.name, args, kwargs, task_id=task_id, link=link, link_error=link_error,
            _task=self, **options,
        )
        parent = request_var.get()
        if parent is not None and not parent.called_directly:
            self._add_to_parent(parent, result)
        # Celery returns the task's own result class (AbortableTask's AbortableAsyncResult).
        if type(self).AsyncResult is not Task.AsyncResult:
            return self.AsyncResult(result.id)
        return result

    @staticmethod
    def _add_to_parent(parent: Context, result: AsyncResult) -> None:
        """``trail``: the running task lists what it sent among its result's ``children``."""
        running = current_task_var.get()
        if running is None or running.trail:
            parent.children.append(result)

    def add_trail(self, result: AsyncResult) -> AsyncResult:
        """Add ``result`` to the running request's ``children`` (if ``trail`` is on)."""
        if self.trail:
            self.request.children.append(result)
        return result

    def shadow_name(self, args: Any, kwargs: Any, options: Mapping[str, Any]) -> str | None:
        """Override (or pass ``shadow_name=`` to ``@app.task``) to name this call in worker
        logs and monitors: the message's ``shadow`` header. None: the task's name."""
        return None

    def delay_many(self, calls: Iterable[Sequence[Any]], **options: Any) -> list[AsyncResult]:
        """Send one task message per argument tuple, all in one broker round trip.

        ``add.delay_many([(1, 2), (3, 4)])`` is ``[add.delay(1, 2), add.delay(3, 4)]`` at a
        fraction of the cost; ``options`` (queue, countdown, ...) apply to every call.
        """
        return self.app.send_many(self.name, ((args, {}) for args in calls), _task=self,
                                  **options)

    def apply_async_many(self, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]],
                         **options: Any) -> list[AsyncResult]:
        """Like ``delay_many`` with ``(args, kwargs)`` pairs."""
        return self.app.send_many(self.name, calls, _task=self, **options)

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Run the task here and now, returning an ``EagerResult`` (``task_always_eager``)."""
        from celeriac.app.eager import apply_eagerly

        return apply_eagerly(self, args or (), dict(kwargs or {}), task_id=task_id, **options)

    def send_event(self, type_: str, retry: bool = True,
                   retry_policy: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Send a custom event (``task-progress``, say) about the running task, as Celery:
        ``uuid`` and the sender's hostname are the current request's; a failing broadcast is
        retried per ``retry_policy`` (default ``task_publish_retry_policy``)."""
        request = self.request
        if retry_policy is None:
            retry_policy = self.app.conf.task_publish_retry_policy
        with self.app.events.default_dispatcher(hostname=request.hostname) as dispatcher:
            dispatcher.send(type_, uuid=request.id, retry=retry, retry_policy=retry_policy,
                            **fields)

    def replace(self, sig: Signature) -> Any:
        """End this task and put ``sig`` in its place, under its id (``app/replace.py``).

        Raises:
            Ignore: always, outside eager mode, once ``sig`` is sent.
            ImproperlyConfigured: ``sig`` is part of a chord, or an empty chain.
        """
        from celeriac.app.replace import replacement_for

        return self.on_replace(replacement_for(self, sig))

    def on_replace(self, sig: Signature) -> Any:
        """Send (or, eagerly, run) the replacement; overrides must return ``super()``'s."""
        from celeriac.app.replace import run_replacement

        return run_replacement(self, sig)

    def add_to_chord(self, sig: Signature, lazy: bool = False) -> Any:
        """Add ``sig`` to the chord this header task belongs to (``app/replace.py``)."""
        from celeriac.app.replace import add_to_chord

        return add_to_chord(self, sig, lazy)

    # -- canvas ---------------------------------------------------------------------
    def signature(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *starargs: Any,
        **options: Any,
    ) -> Signature:
        from celeriac.canvas.signature import Signature

        return Signature(self.name, args, kwargs, options=options, app=self.app)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature with partial arguments: ``add.s(2)`` then ``.delay(3)`` runs add(2, 3)."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: parent results are not prepended to its arguments."""
        return self.signature(args, kwargs, immutable=True)

    def map(self, it: Any) -> Any:
        """``task.map(items)``: one task applying this task to every item (Celery's xmap)."""
        from celeriac.canvas import xmap

        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Any) -> Any:
        from celeriac.canvas import xstarmap

        return xstarmap(self.s(), it, app=self.app)

    def chunks(self, it: Any, n: int) -> Any:
        """Split ``it`` into tasks of ``n`` calls each (Celery's chunks)."""
        from celeriac.canvas import chunks

        return chunks(self.s(), it, n, app=self.app)

    # -- results --------------------------------------------------------------------
    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:
        return self.app.AsyncResult(task_id, task_name=self.name, **kwargs)

    @property
    def backend(self) -> Any:
        return self.app.backend

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None,
        **kwargs: Any,
    ) -> None:
        """Store a custom state (e.g. PROGRESS) with ``meta`` for the running task."""
        from celeriac.backends.base import store_with_reply_to
        from celeriac.protocol.result_meta import ResultMeta

        request = self.request
        target = task_id or request.id
        if target is None:
            return
        # rpc:// needs the reply queue of the running task's caller (Celery's destination_for)
        store_with_reply_to(self.app.backend,
                            [(request.reply_to, ResultMeta(target, state or states.PENDING, meta))])

    # -- hooks (override on a base= class) ----------------------------------------------
    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Runs in the worker before the task body."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        """Runs in the worker after the task returned."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Runs in the worker after the task raised."""

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Runs in the worker when the task asked to be retried."""

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Runs in the worker after every outcome."""


def make_task_class(
    app: Celery,
    fun: Callable[..., Any],
    *,
    name: str,
    base: type[Task[Any, Any]] | None,
    bind: bool,
    options: Mapping[str, Any],
) -> type[Task[Any, Any]]:
    """Build the ``Task`` subclass for ``fun``: the one place classes are made per function.

    A class (not an instance attribute) is built because users subclass via ``base=`` and
    expect options as class attributes, as in Celery.
    """
    base_cls = base or app.Task
    options = dict(options)
    dump_arguments = None
    if options.pop("pydantic", False):
        from celeriac.app.task_pydantic import pydantic_wrapper

        fun = pydantic_wrapper(app, fun, name, options.pop("pydantic_strict", False),
                               options.pop("pydantic_context", None),
                               options.pop("pydantic_dump_kwargs", None))
        dump_arguments = staticmethod(functools.partial(
            fun.dump_arguments, bound=bind))  # type: ignore[attr-defined]
    header = header_from(fun, bound=bind)
    run: Any = fun if bind else staticmethod(fun)
    attrs: dict[str, Any] = {
        "app": app,
        "name": name,
        "run": run,
        "_orig_run": fun,
        "__doc__": fun.__doc__,
        "__module__": fun.__module__,
        "__qualname__": getattr(fun, "__qualname__", name),
        "__wrapped__": run,  # as Celery: task.__wrapped__ reads like task.run
        "abstract": False,
        "__header__": None if header is None else staticmethod(header),
        "_dump_pydantic_arguments": dump_arguments,
        **options,
    }
    cls: type[Task[Any, Any]] = type(getattr(fun, "__name__", name), (base_cls,), attrs)
    cls.bind(app)
    return cls
