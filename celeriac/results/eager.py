"""``EagerResult``: the outcome of a task run in this process (``apply()``,
``task_always_eager``), with Celery's constructor and methods.

Nothing is read from a result store: the value, state and traceback are held here. As in
Celery, ``ready()`` is always true, ``get()`` raises only for FAILURE and REVOKED (an IGNORED
or RETRY outcome returns None), and ``revoke()`` turns the result into a REVOKED one holding
``TaskRevokedError('revoked')``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import TaskRevokedError
from celeriac.protocol.result_meta import ResultMeta
from celeriac.results.async_result import AsyncResult, assert_will_not_block

if TYPE_CHECKING:
    from celeriac.app.base import Celery


class EagerResult(AsyncResult):
    """A result known at once (Celery's ``EagerResult(id, ret_value, state, ...)``)."""

    def __init__(self, id: str, ret_value: Any, state: str, traceback: str | None = None,
                 name: str | None = None, app: Celery | None = None) -> None:
        super().__init__(id, task_name=name, app=app)
        self._result = ret_value
        self._state = state
        self._traceback = traceback
        self._name = name
        self._cache = self._meta()

    def _meta(self) -> ResultMeta:
        """The record a store would hold (group results read members' ``_cache``)."""
        return ResultMeta(self.id, self._state, self._result, self._traceback)

    def then(self, callback: Callable[[EagerResult], Any], on_error: Any = None,
             weak: bool = False) -> Any:
        """Call ``callback(self)`` now: the result is already there (Celery's promise is
        fulfilled when the result is made). Returns what the callback returns."""
        return callback(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, self.__reduce_args__()

    def __reduce_args__(self) -> tuple[Any, ...]:
        return (self.id, self._result, self._state, self._traceback, self._name)

    def __copy__(self) -> EagerResult:
        return EagerResult(*self.__reduce_args__())

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"

    def ready(self) -> bool:
        return True

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            no_ack: bool = True, follow_parents: bool = True,
            callback: Callable[[str, Any], Any] | None = None,
            on_message: Callable[[dict[str, Any]], Any] | None = None,
            on_interval: Callable[[], Any] | None = None, disable_sync_subtasks: bool = True,
            EXCEPTION_STATES: frozenset[str] = states.EXCEPTION_STATES,
            PROPAGATE_STATES: frozenset[str] = states.PROPAGATE_STATES,
            ) -> Any:
        """The eager outcome (Celery's ``EagerResult.get``: no waiting, no hooks).
        ``follow_parents`` has nothing to do: an eager chain stops at its first failure."""
        if disable_sync_subtasks:
            assert_will_not_block()
        if self.successful():
            return self.result
        if self.state in states.PROPAGATE_STATES:
            if propagate:
                raise (self.result if isinstance(self.result, Exception)
                       else Exception(self.result))
            return self.result
        return None

    wait = get

    def forget(self) -> None:
        """Nothing was stored by the result itself."""

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        """Mark the result REVOKED: the task already ran, so nothing is cancelled; ``get``
        raises ``TaskRevokedError`` from now on (Celery 5.7's behaviour)."""
        self._state = states.REVOKED
        self._result = TaskRevokedError("revoked")
        self._traceback = None
        self._cache = self._meta()

    @property
    def result(self) -> Any:
        """The task's return value, or its exception."""
        return self._result

    info = result

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def traceback(self) -> str | None:
        return self._traceback

    @property
    def supports_native_join(self) -> bool:
        return False
