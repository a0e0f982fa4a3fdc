"""Celery's ``Backend`` methods on every result store, as ``app.backend`` exposes them.

Custom code and tools written for Celery call ``app.backend.store_result(...)``,
``get_task_meta(...)``, ``mark_as_failure(...)``, ``as_uri()`` and so on. celeriac's stores
speak the smaller ``ResultBackend`` protocol (``store``/``get``/``wait``/``forget`` of
``ResultMeta`` records); this mixin, a base of every store through ``StoreCapabilities``,
writes Celery's methods once over that protocol, so each store (SQLite, Redis, rpc://,
memory, SQL, Django, memcached, file) offers them without store-specific code.

What differs from Celery, on purpose:

* ``mark_as_*`` store the record only: counting a chord's parts, failing the rest of a chain
  and calling errbacks stay the worker's job (a request carrying those warns, instead of
  silently doing less than Celery).
* ``get_task_meta(cache=...)`` always reads the store: records are small and the store is the
  truth shared by every process, so no per-process cache can go stale.
* ``restore_group``/``get_many``/``get`` keep their ``ResultBackend`` meaning (the group's
  tuple form, a list of records, one record): use ``GroupResult.restore`` and ``AsyncResult``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from celeriac import states
from celeriac.backends.record_codec import COMPRESSED_MAGIC, RecordCodec
from celeriac.config.urls import redact_url
from celeriac.exceptions import TimeoutError
from celeriac.protocol.exception_codec import decode_exception, encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.serialization import registry
from celeriac.serialization.compression import decompress

if TYPE_CHECKING:
    from celeriac.config.frozen import BackendOptions

#: Serializers that carry exception instances as they are (Celery's ``EXCEPTION_ABLE_CODECS``).
EXCEPTION_ABLE_CODECS: Final = frozenset({"pickle"})

#: The ``result_extended`` fields taken from a request, as Celery's ``_get_result_meta``.
_REQUEST_FIELDS: Final = (("name", "task"), ("args", "args"), ("kwargs", "kwargs"),
                          ("worker", "hostname"), ("retries", "retries"))


def _request_reply_to(request: Any) -> str | None:
    """Where an ``rpc://`` record goes: the request's reply queue, else the running task's."""
    if request is None:
        from celeriac._state import get_current_task

        task = get_current_task()
        request = task.request if task is not None else None
    return getattr(request, "reply_to", None) or None


def prepare_value(result: Any, serializer: str) -> Any:
    """A result object (``AsyncResult``/``GroupResult``) is stored as its tuple form unless
    pickled, as Celery's ``Backend.prepare_value``: a task may return the results it sent."""
    if serializer != "pickle" and hasattr(result, "as_tuple") and hasattr(result, "id"):
        return result.as_tuple()
    return result


def meta_dict(meta: ResultMeta, to_python: Any) -> dict[str, Any]:
    """A record as Celery's ``get_task_meta`` returns it: a missing record is
    ``{'status': 'PENDING', 'result': None}``; a failure's result is the exception instance."""
    if meta.status == states.PENDING and meta.result is None and meta.date_done is None \
            and not meta.extended:
        return {"status": states.PENDING, "result": None}
    record = meta.to_dict()
    if meta.status in states.EXCEPTION_STATES:
        record["result"] = to_python(record["result"])
    return record


class CeleryBackendAPI:
    """Celery's ``Backend`` API over the ``ResultBackend`` protocol (module docstring)."""

    READY_STATES = states.READY_STATES
    UNREADY_STATES = states.UNREADY_STATES
    EXCEPTION_STATES = states.EXCEPTION_STATES
    TimeoutError = TimeoutError
    #: Every store reads many records per round trip (``get_many``).
    supports_native_join = True
    subpolling_interval = None
    #: The URL the store was built from (set by ``backends.resolve_backend``).
    url: str | None = None
    options: BackendOptions

    # -- what the store is ----------------------------------------------------------------
    def as_uri(self, include_password: bool = False) -> str:
        """The store's URL; the password masked unless ``include_password``."""
        url = self.url or ""
        if include_password:
            return url
        return redact_url(url)

    @property
    def serializer(self) -> str:
        return self.options.serializer

    @property
    def accept(self) -> frozenset[str]:
        return self._record_codec.accept

    @property
    def expires(self) -> float | None:
        return self.options.expires

    @property
    def is_async(self) -> bool:
        return False

    # -- encoding -------------------------------------------------------------------------
    @property
    def _record_codec(self) -> RecordCodec:
        cached: RecordCodec | None = self.__dict__.get("_celery_api_codec")
        if cached is None:
            cached = RecordCodec(self.options.serializer, self.options.compression,
                                 self.options.accept)
            self.__dict__["_celery_api_codec"] = cached
        return cached

    def encode(self, data: Any) -> bytes:
        """``data`` as ``result_serializer`` (and ``result_compression``) would store it."""
        return self._record_codec.dumps(data)

    def decode(self, payload: bytes | str | None) -> Any:
        """Decode what ``encode`` produced (any accepted serializer, compressed or not)."""
        if payload is None:
            return None
        data = payload.encode() if isinstance(payload, str) else payload
        if data.startswith(COMPRESSED_MAGIC):
            mime, _, data = data[len(COMPRESSED_MAGIC):].partition(b"\0")
            data = decompress(data, mime.decode("ascii", "replace"))
        content_type = registry.get_codec(self.serializer).content_type
        return registry.loads(data, content_type, "utf-8", self._record_codec.accept)

    def prepare_exception(self, exc: BaseException, serializer: str | None = None) -> Any:
        """``exc`` as stored: itself for pickle, else Celery's ``exc_type``/``exc_message``/
        ``exc_module`` mapping."""
        if (serializer or self.serializer) in EXCEPTION_ABLE_CODECS:
            return exc
        return encode_exception(exc)

    def exception_to_python(self, exc: Any) -> BaseException | None:
        """A stored exception as an instance (only exception classes are ever built)."""
        if not exc:
            return None
        if isinstance(exc, BaseException):
            return exc
        if not isinstance(exc, Mapping):
            raise TypeError("If the stored exception isn't an instance of BaseException, it "
                            f"must be a dictionary.\nInstead got: {exc!r}")
        if "exc_type" not in exc:
            raise ValueError("Exception information must include the exception type")
        return decode_exception(exc)

    def prepare_value(self, result: Any) -> Any:
        """A result object (``AsyncResult``/``GroupResult``) is stored as its tuple form."""
        return prepare_value(result, self.serializer)

    def encode_result(self, result: Any, state: str) -> Any:
        if state in states.EXCEPTION_STATES and isinstance(result, BaseException):
            return self.prepare_exception(result)
        return self.prepare_value(result)

    def meta_from_decoded(self, meta: dict[str, Any]) -> dict[str, Any]:
        if meta["status"] in states.EXCEPTION_STATES:
            meta["result"] = self.exception_to_python(meta["result"])
        return meta

    # -- writing ----------------------------------------------------------------------------
    def store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                     request: Any = None, **kwargs: Any) -> Any:
        """Store ``result`` in ``state`` for ``task_id``; returns the stored (encoded) result.

        ``request`` (a task's ``self.request``) supplies the group, parent and, with
        ``result_extended``, the task's name, arguments, worker and queue, as in Celery.
        """
        from celeriac.backends.base import store_with_reply_to

        encoded = self.encode_result(result, state)
        meta = ResultMeta(
            task_id=task_id, status=state, result=encoded, traceback=traceback,
            children=list(getattr(request, "children", None) or []),
            date_done=now_iso() if state in states.READY_STATES else None,
            group_id=getattr(request, "group", None),
            parent_id=getattr(request, "parent_id", None),
            extended=self._extended_from(request),
        )
        store_with_reply_to(self, [(_request_reply_to(request), meta)])  # type: ignore[arg-type]
        return encoded

    def _extended_from(self, request: Any) -> dict[str, Any] | None:
        if request is None or not self.options.extended:
            return None
        extended = {field: getattr(request, attr, None) for field, attr in _REQUEST_FIELDS}
        delivery_info = getattr(request, "delivery_info", None)
        extended["queue"] = delivery_info.get("routing_key") if delivery_info else None
        return extended

    def mark_as_started(self, task_id: str, **meta: Any) -> Any:
        return self.store_result(task_id, meta, states.STARTED)

    def mark_as_done(self, task_id: str, result: Any, request: Any = None,
                     store_result: bool = True, state: str = states.SUCCESS) -> None:
        _warn_worker_duties(request, "chord")
        if store_result and not getattr(request, "ignore_result", False):
            self.store_result(task_id, result, state, request=request)

    def mark_as_failure(self, task_id: str, exc: BaseException, traceback: str | None = None,
                        request: Any = None, store_result: bool = True,
                        call_errbacks: bool = True, state: str = states.FAILURE) -> None:
        _warn_worker_duties(request, "chord", "chain", *(("errbacks",) if call_errbacks else ()))
        if store_result:
            self.store_result(task_id, exc, state, traceback=traceback, request=request)

    def mark_as_revoked(self, task_id: str, reason: str = "", request: Any = None,
                        store_result: bool = True, state: str = states.REVOKED) -> None:
        from celeriac.exceptions import TaskRevokedError

        _warn_worker_duties(request, "chord")
        if store_result:
            self.store_result(task_id, TaskRevokedError(reason), state, request=request)

    def mark_as_retry(self, task_id: str, exc: BaseException, traceback: str | None = None,
                      request: Any = None, store_result: bool = True,
                      state: str = states.RETRY) -> Any:
        return self.store_result(task_id, exc, state, traceback=traceback, request=request)

    def cleanup(self) -> None:
        """Delete expired records (``celery.backend_cleanup``); stores expire their own."""

    def process_cleanup(self) -> None:
        """Nothing to release at the end of a task."""

    # -- reading ----------------------------------------------------------------------------
    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        """The record of ``task_id`` as Celery's dict (read from the store every time)."""
        return meta_dict(self.get(task_id), self.exception_to_python)

    def reload_task_result(self, task_id: str) -> dict[str, Any]:
        return self.get_task_meta(task_id, cache=False)

    def task_result_exists(self, task_id: str) -> bool:
        """Whether a record is stored for ``task_id`` (Celery 5.7)."""
        return bool(self.get_task_meta(task_id)["status"] != states.PENDING)

    def get_state(self, task_id: str) -> str:
        return str(self.get_task_meta(task_id)["status"])

    get_status = get_state

    def get_traceback(self, task_id: str) -> str | None:
        return self.get_task_meta(task_id).get("traceback")

    def get_result(self, task_id: str) -> Any:
        return self.get_task_meta(task_id).get("result")

    def get_children(self, task_id: str) -> list[Any] | None:
        return self.get_task_meta(task_id).get("children")

    def wait_for(self, task_id: str, timeout: float | None = None, interval: float = 0.5,
                 no_ack: bool = True, on_interval: Any = None) -> dict[str, Any]:
        """Block until ``task_id`` is ready; its record as Celery's dict."""
        if on_interval is None:
            return meta_dict(self.wait(task_id, timeout, interval), self.exception_to_python)
        from celeriac.backends.base import poll_until_ready

        def read(tid: str) -> ResultMeta:
            meta = self.get(tid)
            if not meta.ready:
                on_interval()
            return meta

        return meta_dict(poll_until_ready(read, task_id, timeout, interval),
                         self.exception_to_python)

    def add_pending_result(self, result: Any, weak: bool = False) -> Any:
        return result

    def remove_pending_result(self, result: Any) -> Any:
        return result

    # -- ResultBackend primitives the mixin builds on (each store provides them) ----------
    def get(self, task_id: str) -> ResultMeta:
        raise NotImplementedError

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        raise NotImplementedError


def _warn_worker_duties(request: Any, *duties: str) -> None:
    """Warn that ``mark_as_*`` leaves chord counting, chain failure and errbacks to the worker."""
    present = [duty for duty in duties if getattr(request, duty, None)]
    if present:
        warnings.warn(
            f"app.backend.mark_as_* stores the record only; the request's {', '.join(present)} "
            "is handled by the worker that runs the task, not by this call",
            UserWarning, stacklevel=3)


class KeyValueKeys:
    """Celery's key names on the key-value stores (``BaseKeyValueStoreBackend``)."""

    task_keyprefix: Final = "celery-task-meta-"
    group_keyprefix: Final = "celery-taskset-meta-"
    chord_keyprefix: Final = "chord-unlock-"

    def get_key_for_task(self, task_id: str, key: str = "") -> bytes:
        return f"{self.task_keyprefix}{task_id}{key}".encode()

    def get_key_for_group(self, group_id: str, key: str = "") -> bytes:
        return f"{self.group_keyprefix}{group_id}{key}".encode()

    def get_key_for_chord(self, group_id: str, key: str = "") -> bytes:
        return f"{self.chord_keyprefix}{group_id}{key}".encode()


__all__ = ["CeleryBackendAPI", "KeyValueKeys", "meta_dict", "prepare_value"]
