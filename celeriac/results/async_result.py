"""``AsyncResult``: the caller's handle on a task's outcome, read from the result store."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import TimeoutError
from celeriac.protocol.exception_codec import decode_exception
from celeriac.protocol.result_meta import ResultMeta, parse_date_done
from celeriac.results import graph as _graph
from celeriac.results.blocking import E_WOULDBLOCK, allow_join_result, assert_will_not_block
from celeriac.results.parents import reraise_parent_error, wait_following_parents
from celeriac.results.waiting import wait_with_hooks

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend


def exception_from_meta(meta: ResultMeta) -> BaseException:
    """Rebuild a stored failure as an exception instance (no pickle; Celery's rules)."""
    value = meta.result
    if isinstance(value, BaseException):
        return value
    if isinstance(value, dict) and "exc_type" in value:
        return decode_exception(value)
    from celeriac.exceptions import TaskError

    return TaskError(f"Task {meta.task_id} ended in {meta.status}: {value!r}")


def call_then(callback: Callable[..., Any], on_error: Callable[..., Any] | None,
              result: Any) -> None:
    """Fulfil a ``then`` callback with ``result``; what it raises goes to ``on_error``."""
    try:
        callback(result)
    except Exception as exc:
        if on_error is None:
            raise
        on_error(exc)


def held(callback: Callable[..., Any], weak: bool) -> Callable[..., Any]:
    """A ``then`` callback as it waits: with ``weak`` (Celery's), only a weak reference, so a
    callback whose object is gone by then is dropped instead of called (or kept alive)."""
    if not weak:
        return callback
    ref: Callable[[], Callable[..., Any] | None] = (
        weakref.WeakMethod(callback) if inspect.ismethod(callback) else weakref.ref(callback))

    def call(result: Any) -> None:
        target = ref()
        if target is not None:
            target(result)

    return call


def meta_to_dict(meta: ResultMeta) -> dict[str, Any]:
    """A record as Celery hands it to ``on_message``: a dict, a failure's exception rebuilt."""
    record = meta.to_dict()
    if meta.status in states.EXCEPTION_STATES:
        record["result"] = exception_from_meta(meta)
    return record


class AsyncResult(_graph.ResultTree):
    """A pending or finished task's result. Every property reads the store (no caching of
    unready states), so a handle can be polled from any process that shares the store."""

    TimeoutError = TimeoutError

    def __init__(
        self,
        id: str,
        backend: ResultBackend | None = None,
        task_name: str | None = None,
        app: Celery | None = None,
        parent: AsyncResult | None = None,
    ) -> None:
        if id is None:
            raise ValueError(f"AsyncResult requires valid id, not {type(id)}")
        if app is None:
            from celeriac import _state

            app = _state.get_current_app()
        self.app = app
        self.id = id
        self._backend = backend
        self.task_name = task_name
        self.parent = parent
        self._cache: ResultMeta | None = None
        #: Celery 5.7: the task was sent with ``ignore_result``, so ``get()`` returns None.
        self.ignored = False
        self._on_ready: list[tuple[Callable[[AsyncResult], Any], Callable[..., Any] | None]] = []

    @property
    def task_id(self) -> str:
        return self.id

    @task_id.setter
    def task_id(self, value: str) -> None:
        self.id = value

    @property
    def backend(self) -> ResultBackend:
        return self._backend if self._backend is not None else self.app.backend

    @backend.setter
    def backend(self, value: ResultBackend) -> None:
        self._backend = value

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    def __str__(self) -> str:
        return self.id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    # -- reading ------------------------------------------------------------------------
    def _meta(self) -> ResultMeta:
        if self._cache is not None:
            return self._cache
        meta = self.backend.get(self.id)
        if meta.ready:
            self._set_cache(meta)
        return meta

    def _set_cache(self, meta: ResultMeta) -> None:
        """Keep a ready record and fulfil ``then`` callbacks (once)."""
        self._cache = meta
        callbacks, self._on_ready = self._on_ready, []
        for callback, on_error in callbacks:
            call_then(callback, on_error, self)


    def then(self, callback: Callable[[AsyncResult], Any],
             on_error: Callable[..., Any] | None = None, weak: bool = False) -> None:
        """Call ``callback(self)`` once the result is known ready: at once when it already
        is, else when ``get()`` (or a property read) first sees it ready. ``on_error`` gets
        what ``callback`` raises; with ``weak`` only a weak reference to it is kept. Nothing
        watches in the background, as with Celery's polling stores."""
        if self._cache is not None:
            call_then(callback, on_error, self)
        else:
            self._on_ready.append((held(callback, weak), on_error))

    @property
    def state(self) -> str:
        return self._meta().status

    status = state

    def ready(self) -> bool:
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    @property
    def result(self) -> Any:
        """The return value, or the exception instance for a failure."""
        meta = self._meta()
        if meta.status in states.EXCEPTION_STATES:
            return exception_from_meta(meta)
        return meta.result

    info = result

    @property
    def traceback(self) -> str | None:
        return self._meta().traceback

    @property
    def date_done(self) -> datetime | None:
        return parse_date_done(self._meta().date_done)

    @property
    def name(self) -> str | None:
        meta = self._meta()
        if meta.extended and meta.extended.get("name"):
            return str(meta.extended["name"])
        return self.task_name

    def _extended(self, field: str) -> Any:
        """A ``result_extended`` field of the record (None when the worker did not store it)."""
        extended = self._meta().extended
        return extended.get(field) if extended else None

    @property
    def args(self) -> Any:
        """The task's positional arguments (``result_extended``)."""
        return self._extended("args")

    @property
    def kwargs(self) -> Any:
        """The task's keyword arguments (``result_extended``)."""
        return self._extended("kwargs")

    @property
    def worker(self) -> str | None:
        """The node name of the worker that ran the task (``result_extended``)."""
        return self._extended("worker")  # type: ignore[no-any-return]

    @property
    def retries(self) -> int | None:
        """How many times the task had been retried (``result_extended``)."""
        return self._extended("retries")  # type: ignore[no-any-return]

    @property
    def queue(self) -> str | None:
        """The queue (routing key) the task was delivered from (``result_extended``)."""
        return self._extended("queue")  # type: ignore[no-any-return]

    @property
    def children(self) -> list[Any] | None:
        """Results of the tasks this one sent (callbacks, chain steps), as result objects."""
        raw = self._meta().children
        if raw is None:
            return None
        from celeriac.results.group_result import result_from_tuple

        return [result_from_tuple(child, self.app, self._backend) for child in raw]

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        callback: Callable[[str, Any], Any] | None = None,
        on_message: Callable[[dict[str, Any]], Any] | None = None,
        on_interval: Callable[[], Any] | None = None,
        disable_sync_subtasks: bool = True,
        EXCEPTION_STATES: frozenset[str] = states.EXCEPTION_STATES,
        PROPAGATE_STATES: frozenset[str] = states.PROPAGATE_STATES,
    ) -> Any:
        """Wait for the task and return its value (Celery's ``AsyncResult.get``).

        ``follow_parents`` (with ``propagate``) first raises a failed parent's exception
        (a chain's earlier step), and keeps checking the parents while waiting.
        ``callback(task_id, value)`` is called with the value before it is returned;
        ``on_message`` gets each state seen as a dict; ``on_interval()`` runs between reads.
        A result sent with ``ignore_result`` (``ignored``) returns None at once. ``no_ack``
        has no effect: no store here holds results as messages to acknowledge.

        Raises:
            celeriac.exceptions.TimeoutError: not ready within ``timeout`` seconds.
            BaseException: the task's own exception (rebuilt as its type when importable)
                when it ended in one of ``PROPAGATE_STATES`` and ``propagate`` is true; with
                ``follow_parents``, a failed parent's exception first (``results.parents``).
            RuntimeError: called inside a task (see ``assert_will_not_block``).
        """
        if self.ignored:
            return None
        if disable_sync_subtasks:
            assert_will_not_block()
        follow = follow_parents and propagate and self.parent is not None
        meta = self._cache
        if meta is not None:
            if follow:
                reraise_parent_error(self)
        elif on_interval is None and on_message is None:
            meta = (wait_following_parents(self, timeout, interval) if follow
                    else self.backend.wait(self.id, timeout=timeout, interval=interval))
        else:
            if follow:
                reraise_parent_error(self)
            meta = wait_with_hooks(self.backend, self.id, timeout, interval,
                                   self._interval_hook(follow, on_interval),
                                   on_message, meta_to_dict)
        self._set_cache(meta)
        if follow and meta.status in PROPAGATE_STATES:
            reraise_parent_error(self)
        return self._throw_or_value(meta, propagate, callback, PROPAGATE_STATES)

    wait = get

    def _interval_hook(self, check_parents: bool,
                       on_interval: Callable[[], Any] | None) -> Callable[[], Any] | None:
        if not check_parents:
            return on_interval

        def hook() -> None:
            reraise_parent_error(self)
            if on_interval is not None:
                on_interval()

        return hook

    def _throw_or_value(self, meta: ResultMeta, propagate: bool,
                        callback: Callable[[str, Any], Any] | None,
                        propagate_states: frozenset[str] = states.PROPAGATE_STATES) -> Any:
        value = exception_from_meta(meta) if meta.status in states.EXCEPTION_STATES \
            else meta.result
        if propagate and meta.status in propagate_states:
            raise value
        if callback is not None:
            callback(self.id, value)
        return value

    def maybe_throw(self, propagate: bool = True,
                    callback: Callable[[str, Any], Any] | None = None) -> Any:
        """Raise the task's exception if it failed (and ``propagate``); else its value."""
        return self._throw_or_value(self._meta(), propagate, callback)

    maybe_reraise = maybe_throw

    def as_list(self) -> list[str]:
        """This result's id, then its parents' ids."""
        return [self.id, *(self.parent.as_list() if self.parent is not None else ())]

    def exists(self) -> bool:
        """Whether the store holds a record for this task (Celery 5.7)."""
        return self.backend.get(self.id).status != states.PENDING

    @property
    def supports_native_join(self) -> bool:
        return True

    def __copy__(self) -> AsyncResult:
        return type(self)(self.id, self._backend, self.task_name, self.app, self.parent)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.id, None, self.task_name, None, self.parent)

    def forget(self) -> None:
        """Delete the records of this task and of its parents (a chain's earlier steps)."""
        self._cache = None
        if self.parent is not None:
            self.parent.forget()
        self.backend.forget(self.id)

    def revoke(self, connection: Any = None, terminate: bool = False,
               signal: str | None = None, wait: bool = False,
               timeout: float | None = None) -> None:
        """Ask every worker to skip (or, with ``terminate``, kill) this task."""
        self.app.control.revoke(self.id, terminate=terminate, signal=signal, reply=wait,
                                timeout=timeout)

    def revoke_by_stamped_headers(self, headers: dict[str, Any], connection: Any = None,
                                  terminate: bool = False, signal: str | None = None,
                                  wait: bool = False, timeout: float | None = None) -> None:
        """``app.control.revoke_by_stamped_headers`` (Celery's shortcut; not about this id)."""
        waiting: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        self.app.control.revoke_by_stamped_headers(headers, connection=connection,
                                                   terminate=terminate, signal=signal,
                                                   reply=wait, **waiting)

    def as_tuple(self) -> tuple[Any, Any]:
        return ((self.id, self.parent.as_tuple() if self.parent else None), None)



__all__ = ["E_WOULDBLOCK", "AsyncResult", "allow_join_result", "assert_will_not_block",
           "call_then", "exception_from_meta", "meta_to_dict"]
