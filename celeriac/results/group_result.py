"""``ResultSet`` and ``GroupResult``: many results read together, in call order.

Reading is batched: every check of a 10,000-member group is a handful of ``get_many`` calls
(``BATCH`` ids each, one round trip per batch on Redis/SQLite), never one round trip per
member. Waiting blocks on the store's own notification for the member most likely to finish
last, then re-reads the still-pending ones in batches, so a wait costs a few round trips
whatever the group's size. ``save``/``restore`` ask the store (its ``GROUPS`` capability), which
keeps Celery's layout (wire-protocol.md §4.3):
``celery-taskset-meta-<gid>`` = ``{"result": [[gid, null], [member tuples]]}``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import ImproperlyConfigured, TimeoutError
from celeriac.protocol.result_meta import ResultMeta
from celeriac.results.async_result import (
    AsyncResult,
    assert_will_not_block,
    call_then,
    exception_from_meta,
    held,
    meta_to_dict,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend

#: ids per ``get_many`` call.
BATCH = 1000


def _app_of(app: Celery | None) -> Celery:
    if app is not None:
        return app
    from celeriac import _state

    return _state.get_current_app()


class ResultSet:
    """A list of results (``AsyncResult`` or nested sets) read and waited for as one."""

    def __init__(self, results: Iterable[Any], app: Celery | None = None,
                 backend: ResultBackend | None = None, **_: Any) -> None:
        self.results: list[Any] = list(results)
        self._app = app
        self._backend = backend
        self._on_ready: list[tuple[Callable[..., Any], Callable[..., Any] | None]] = []

    @property
    def app(self) -> Celery:
        self._app = _app_of(self._app)
        return self._app

    @app.setter
    def app(self, app: Celery) -> None:
        self._app = app

    @property
    def backend(self) -> ResultBackend:
        return self._backend if self._backend is not None else self.app.backend

    # -- container --------------------------------------------------------------------
    def add(self, result: Any) -> None:
        if result not in self.results:
            self.results.append(result)

    def remove(self, result: Any) -> None:
        """Remove ``result`` (a result or a task id).

        Raises:
            KeyError: it is not a member.
        """
        if isinstance(result, str):
            result = AsyncResult(result, app=self.app)
        try:
            self.results.remove(result)
        except ValueError:
            raise KeyError(result) from None

    def discard(self, result: Any) -> None:
        with contextlib.suppress(KeyError):
            self.remove(result)

    def update(self, results: Iterable[Any]) -> None:
        self.results.extend(r for r in results if r not in self.results)

    def clear(self) -> None:
        self.results[:] = []  # the same list object, as Celery

    def then(self, callback: Callable[[ResultSet], Any],
             on_error: Callable[..., Any] | None = None, weak: bool = False) -> None:
        """Call ``callback(self)`` once every member is known ready: at once when they are,
        else when ``join()`` returns (``weak``: only a weak reference to ``callback`` is
        kept). Nothing watches in the background."""
        if self.ready():
            call_then(callback, on_error, self)
        else:
            self._on_ready.append((held(callback, weak), on_error))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> Any:
        return self.results[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResultSet):
            return other.results == self.results
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: [{', '.join(str(r) for r in self.results)}]>"

    # -- reading ------------------------------------------------------------------------
    def _leaves(self) -> list[AsyncResult]:
        out: list[AsyncResult] = []
        for result in self.results:
            if isinstance(result, ResultSet):
                out.extend(result._leaves())
            else:
                out.append(result)
        return out

    def _refresh(self, leaves: Sequence[AsyncResult]) -> list[ResultMeta]:
        """Current records of ``leaves`` (cached ready ones are not re-read), in order."""
        metas: list[ResultMeta | None] = [leaf._cache for leaf in leaves]
        missing = [i for i, meta in enumerate(metas) if meta is None]
        backend = self.backend
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            fetched = backend.get_many([leaves[i].id for i in chunk])
            for i, meta in zip(chunk, fetched, strict=True):
                metas[i] = meta
                if meta.ready:
                    leaves[i]._cache = meta
        return [meta for meta in metas if meta is not None]

    def _states(self) -> list[str]:
        return [meta.status for meta in self._refresh(self._leaves())]

    def ready(self) -> bool:
        return all(state in states.READY_STATES for state in self._states())

    def successful(self) -> bool:
        return all(state == states.SUCCESS for state in self._states())

    def failed(self) -> bool:
        return any(state == states.FAILURE for state in self._states())

    def waiting(self) -> bool:
        return not self.ready()

    def completed_count(self) -> int:
        return sum(state == states.SUCCESS for state in self._states())

    def _wait_ready(self, leaves: Sequence[AsyncResult], timeout: float | None,
                    interval: float, on_interval: Callable[[], Any] | None = None
                    ) -> list[ResultMeta]:
        """Block until every leaf is ready; see the module docstring for the strategy."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            metas = self._refresh(leaves)
            pending = [leaf for leaf, meta in zip(leaves, metas, strict=True) if not meta.ready]
            if not pending:
                return metas
            wait = 1.0
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise TimeoutError(
                        f"The operation timed out: {len(pending)} of {len(leaves)} results "
                        f"not ready (first: {pending[0].id})."
                    )
            if on_interval is not None:
                on_interval()
            wait = min(wait, interval if on_interval is not None else 1.0)
            with contextlib.suppress(TimeoutError):
                self.backend.wait(pending[-1].id, timeout=wait, interval=interval)

    def join(self, timeout: float | None = None, propagate: bool = True,
             interval: float = 0.5, callback: Callable[[str, Any], Any] | None = None,
             no_ack: bool = True, on_message: Callable[[dict[str, Any]], Any] | None = None,
             disable_sync_subtasks: bool = True,
             on_interval: Callable[[], Any] | None = None) -> list[Any]:
        """Wait for every result; return their values in call order (Celery's ``join``).

        With ``callback``, each ``(task_id, value)`` goes to it and the list is empty.
        ``on_interval()`` runs between reads; ``no_ack`` has no effect (no store holds results
        as messages to acknowledge).

        Raises:
            celeriac.exceptions.TimeoutError: not all ready within ``timeout`` seconds.
            BaseException: the first failed member's exception, when ``propagate``.
            RuntimeError: called inside a task (see ``assert_will_not_block``).
            ImproperlyConfigured: ``on_message`` given (as Celery's ``join``; use
                ``join_native``).
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        if on_message is not None:
            raise ImproperlyConfigured("Backend does not support on_message callback")
        values = self._joined(timeout, propagate, interval, callback, None, on_interval)
        return [] if callback is not None else values

    def join_native(self, timeout: float | None = None, propagate: bool = True,
                    interval: float = 0.5, callback: Callable[[str, Any], Any] | None = None,
                    no_ack: bool = True,
                    on_message: Callable[[dict[str, Any]], Any] | None = None,
                    on_interval: Callable[[], Any] | None = None,
                    disable_sync_subtasks: bool = True) -> list[Any] | None:
        """``join`` reading the members in batches; ``on_message`` gets each member's record
        (a dict) as it is found ready. With ``callback`` it returns None, as Celery's."""
        if disable_sync_subtasks:
            assert_will_not_block()
        values = self._joined(timeout, propagate, interval, callback, on_message, on_interval)
        return None if callback is not None else values

    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float = 0.5, callback: Callable[[str, Any], Any] | None = None,
            no_ack: bool = True, on_message: Callable[[dict[str, Any]], Any] | None = None,
            disable_sync_subtasks: bool = True,
            on_interval: Callable[[], Any] | None = None) -> list[Any] | None:
        """``join_native`` (every store joins natively), as Celery's ``get``."""
        return self.join_native(timeout=timeout, propagate=propagate, interval=interval,
                                callback=callback, no_ack=no_ack, on_message=on_message,
                                on_interval=on_interval,
                                disable_sync_subtasks=disable_sync_subtasks)

    def iter_native(self, timeout: float | None = None, interval: float = 0.5,
                    no_ack: bool = True,
                    on_message: Callable[[dict[str, Any]], Any] | None = None,
                    on_interval: Callable[[], Any] | None = None
                    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(task_id, record dict)`` for each member once all are ready."""
        leaves = self._leaves()
        metas = self._wait_ready(leaves, timeout, interval, on_interval)
        for meta in metas:
            record = meta_to_dict(meta)
            if on_message is not None:
                on_message(record)
            yield meta.task_id, record

    def _joined(self, timeout: float | None, propagate: bool, interval: float,
                callback: Callable[[str, Any], Any] | None,
                on_message: Callable[[dict[str, Any]], Any] | None,
                on_interval: Callable[[], Any] | None) -> list[Any]:
        leaves = self._leaves()
        metas = self._wait_ready(leaves, timeout, interval, on_interval)
        if on_message is not None:
            for meta in metas:
                on_message(meta_to_dict(meta))
        values = self._values({leaf.id: meta for leaf, meta in zip(leaves, metas, strict=True)},
                              propagate, callback)
        callbacks, self._on_ready = self._on_ready, []
        for then_callback, on_error in callbacks:
            call_then(then_callback, on_error, self)
        return values

    def _values(self, metas: dict[str, ResultMeta], propagate: bool,
                callback: Callable[[str, Any], Any] | None) -> list[Any]:
        values: list[Any] = []
        for result in self.results:
            if isinstance(result, ResultSet):
                values.append(result._values(metas, propagate, callback))
                continue
            meta = metas[result.id]
            value = meta.result
            if meta.status in states.EXCEPTION_STATES:
                value = exception_from_meta(meta)
                if propagate and meta.status in states.PROPAGATE_STATES:
                    raise value
            if callback is not None:
                callback(result.id, value)
            else:
                values.append(value)
        return values

    def maybe_throw(self, callback: Callable[[str, Any], Any] | None = None,
                    propagate: bool = True) -> None:
        for result in self.results:
            result.maybe_throw(callback=callback, propagate=propagate)

    maybe_reraise = maybe_throw

    @property
    def supports_native_join(self) -> bool:
        return True

    def forget(self) -> None:
        for leaf in self._leaves():
            leaf.forget()

    def revoke(self, connection: Any = None, terminate: bool = False, signal: str | None = None,
               wait: bool = False, timeout: float | None = None) -> None:
        """Revoke every member in one broadcast (Celery's signature and behaviour)."""
        self.app.control.revoke([leaf.id for leaf in self._leaves()], terminate=terminate,
                                signal=signal, reply=wait, timeout=timeout)


class GroupResult(ResultSet):
    """The result of a ``group``: its id plus its members' results, in call order."""

    def __init__(self, id: str | None = None, results: Iterable[Any] | None = None,
                 parent: Any = None, app: Celery | None = None, **kwargs: Any) -> None:
        super().__init__(results or (), app=app, **kwargs)
        self.id = id
        self.parent = parent

    @property
    def children(self) -> list[Any]:
        return self.results

    def as_tuple(self) -> tuple[Any, Any]:
        parent = self.parent.as_tuple() if self.parent is not None else None
        return ((self.id, parent), [r.as_tuple() for r in self.results])

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(str(r) for r in self.results)}]>"

    def __str__(self) -> str:
        return str(self.id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return other.id == self.id and other.results == self.results
        return NotImplemented

    __hash__ = None

    def save(self, backend: ResultBackend | None = None) -> GroupResult:
        """Store this group so ``GroupResult.restore(id)`` works anywhere (Celery's layout).

        Raises:
            UnsupportedByStore: the store does not support groups (``rpc://``, none).
        """
        (backend or self.backend).save_group(str(self.id), self)
        return self

    def delete(self, backend: ResultBackend | None = None) -> None:
        (backend or self.backend).delete_group(str(self.id))

    @classmethod
    def restore(cls, id: str, backend: ResultBackend | None = None,
                app: Celery | None = None) -> GroupResult | None:
        """The saved group ``id``, or ``None`` when nothing was saved under it."""
        app = _app_of(app)
        saved = (backend or app.backend).restore_group(id)
        if saved is None:
            return None
        restored = result_from_tuple(saved, app, backend)
        assert isinstance(restored, GroupResult)
        return restored


def result_from_tuple(value: Any, app: Celery | None = None,
                      backend: ResultBackend | None = None) -> Any:
    """Rebuild a result from its ``as_tuple`` form (as stored in ``children`` or a saved
    group); the results read ``backend`` when given, else the app's store."""
    if value is None:
        return None
    app = _app_of(app)
    (task_id, parent), nested = value
    parent_result = result_from_tuple(parent, app, backend) if parent else None
    if nested is not None:
        members = [result_from_tuple(child, app, backend) for child in nested]
        return GroupResult(task_id, members, parent=parent_result, app=app, backend=backend)
    return AsyncResult(task_id, backend=backend, app=app, parent=parent_result)


__all__ = ["GroupResult", "ResultSet", "result_from_tuple"]
