"""``AsyncResult``: the caller's handle on a task's outcome, read from the result store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from celeriac import states
from celeriac._state import join_will_block_var, task_join_will_block
from celeriac.protocol.exception_codec import decode_exception
from celeriac.protocol.result_meta import ResultMeta, parse_date_done
from celeriac.results.parents import reraise_parent_error, wait_following_parents

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend


#: Celery's message, word for word (``celery.result.E_WOULDBLOCK``).
E_WOULDBLOCK: Final = """\
Never call result.get() within a task!
See https://docs.celeryq.dev/en/latest/userguide/tasks.html\
#avoid-launching-synchronous-subtasks
"""


def assert_will_not_block() -> None:
    """Refuse to wait for a result inside a worker's task, as Celery does.

    The waiting task holds the pool slot the awaited task may need: a solo worker (or a
    full pool) would wait forever. ``get(disable_sync_subtasks=False)`` or
    ``with allow_join_result():`` opt out.
    """
    if task_join_will_block():
        raise RuntimeError(E_WOULDBLOCK)


@contextmanager
def allow_join_result() -> Iterator[None]:
    """Allow ``result.get()`` inside a task within this block (Celery's escape hatch)."""
    token = join_will_block_var.set(False)
    try:
        yield
    finally:
        join_will_block_var.reset(token)


def exception_from_meta(meta: ResultMeta) -> BaseException:
    """Rebuild a stored failure as an exception instance (no pickle; Celery's rules)."""
    value = meta.result
    if isinstance(value, BaseException):
        return value
    if isinstance(value, dict) and "exc_type" in value:
        return decode_exception(value)
    from celeriac.exceptions import TaskError

    return TaskError(f"Task {meta.task_id} ended in {meta.status}: {value!r}")


class AsyncResult:
    """A pending or finished task's result. Every property reads the store (no caching of
    unready states), so a handle can be polled from any process that shares the store."""

    def __init__(
        self,
        id: str,
        backend: ResultBackend | None = None,
        task_name: str | None = None,
        app: Celery | None = None,
        parent: AsyncResult | None = None,
    ) -> None:
        if app is None:
            from celeriac import _state

            app = _state.get_current_app()
        self.app = app
        self.id = id
        self._backend = backend
        self.task_name = task_name
        self.parent = parent
        self._cache: ResultMeta | None = None

    @property
    def task_id(self) -> str:
        return self.id

    @property
    def backend(self) -> ResultBackend:
        return self._backend if self._backend is not None else self.app.backend

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
            self._cache = meta
        return meta

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

        return [result_from_tuple(child, self.app) for child in raw]

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        follow_parents: bool = True,
        **_: Any,
    ) -> Any:
        """Wait for the task and return its value.

        Raises:
            celeriac.exceptions.TimeoutError: not ready within ``timeout`` seconds.
            BaseException: the task's own exception (rebuilt as its type when importable)
                when it failed and ``propagate`` is true; with ``follow_parents``, a failed
                parent's exception first (``results.parents``), as Celery.
            RuntimeError: called inside a task (see ``assert_will_not_block``).
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        follow = follow_parents and propagate and self.parent is not None
        if self._cache is not None:
            if follow:
                reraise_parent_error(self)
            meta = self._cache
        elif follow:
            meta = wait_following_parents(self, timeout, interval)
        else:
            meta = self.backend.wait(self.id, timeout=timeout, interval=interval)
        self._cache = meta
        if meta.status in states.PROPAGATE_STATES:
            if follow:
                reraise_parent_error(self)
            exc = exception_from_meta(meta)
            if propagate:
                raise exc
            return exc
        return meta.result

    wait = get

    def forget(self) -> None:
        self._cache = None
        self.backend.forget(self.id)

    def revoke(self, terminate: bool = False, signal: str | None = None, **kwargs: Any) -> None:
        control = getattr(self.app, "control", None)
        if control is None:
            raise NotImplementedError("Remote control is not available in this version.")
        control.revoke(self.id, terminate=terminate, signal=signal, **kwargs)

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

