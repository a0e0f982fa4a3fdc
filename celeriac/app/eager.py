"""``Task.apply`` and ``task_always_eager``: run a task here, under a request of its own, as
Celery's ``Task.apply`` does (the run itself is ``execution/eager_trace.py``).

The request is Celery's eager request: ``is_eager``, the caller's task as parent (its root
kept), ``hostname``, ``loglevel`` 0, ``delivery_info`` with ``is_eager`` and the routing
options. ``self.retry()`` runs the task again here, same id, ``retries + 1``, until it
returns, fails, or exceeds ``max_retries``.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac._state import join_will_block_var, request_var
from celeriac.exceptions import Retry
from celeriac.execution.context import Context
from celeriac.execution.eager_trace import trace_eagerly
from celeriac.results.eager import EagerResult
from celeriac.serialization import registry

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.results.async_result import AsyncResult


def apply_always_eager(task: Task[Any, Any], args: Sequence[Any] | None,
                       kwargs: Mapping[str, Any] | None, task_id: str | None,
                       link: Any, link_error: Any, options: dict[str, Any]) -> AsyncResult:
    """``apply_async``/``delay`` under ``task_always_eager``, as Celery's: the arguments
    make the round trip through the task's serializer (so a test sees what a worker would
    receive: tuples become lists, an unencodable argument raises ``EncodeError``), and a
    ``result.get()`` inside the task is refused as it would be in a worker."""
    serializer = str(options.get("serializer") or task.serializer
                     or task.app.conf.task_serializer or "json")
    content_type, encoding, data = registry.dumps((list(args or ()), dict(kwargs or {})),
                                                  serializer)
    args, kwargs = registry.loads(data, content_type, encoding, frozenset({content_type}))
    token = join_will_block_var.set(True)
    try:
        result = task.apply(args, kwargs, task_id=task_id or str(uuid.uuid4()), link=link,
                            link_error=link_error, **options)
    finally:
        join_will_block_var.reset(token)
    return result


def apply_eagerly(task: Task[Any, Any], args: Sequence[Any] | None,
                  kwargs: dict[str, Any] | None, task_id: str | None = None,
                  link: Any = None, link_error: Any = None, retries: int | None = None,
                  throw: bool | None = None, logfile: str | None = None,
                  loglevel: int | None = None, headers: dict[str, Any] | None = None,
                  **options: Any) -> EagerResult:
    """Run ``task`` in-process; with ``throw`` (default ``task_eager_propagates``) its
    exception, or a ``Retry``, is raised instead of returned in the result."""
    task_id = task_id or str(uuid.uuid4())
    if throw is None:
        throw = bool(task.app.conf.task_eager_propagates)
    call_args, call_kwargs = list(args or ()), dict(kwargs or {})
    attempt = int(retries or 0)
    while True:
        context = _request(task, task_id, call_args, call_kwargs, attempt, link, link_error,
                           logfile, loglevel, headers, options)
        outcome = trace_eagerly(task, context, propagate=throw)
        retval = outcome.retval
        if isinstance(retval, Retry) and retval.sig is not None:
            call_args, call_kwargs = list(retval.sig["args"]), dict(retval.sig["kwargs"])
            attempt += 1
            continue
        return EagerResult(task_id, retval, outcome.state, traceback=outcome.traceback,
                           name=task.name, app=task.app)


def _request(task: Task[Any, Any], task_id: str, args: list[Any], kwargs: dict[str, Any],
             retries: int, link: Any, link_error: Any, logfile: str | None,
             loglevel: int | None, headers: dict[str, Any] | None,
             options: dict[str, Any]) -> Context:
    parent = request_var.get()
    if parent is not None and parent.id and not parent.called_directly:
        parent_id, root_id = parent.id, parent.root_id or task_id
    else:
        parent_id, root_id = None, task_id
    ignore = options.get("ignore_result")
    if ignore is None:
        ignore = task.ignore_result
    if ignore is None:
        ignore = task.app.conf.task_ignore_result
    limits = (task.time_limit, task.soft_time_limit)
    return Context(
        id=task_id, task=task.name, args=args, kwargs=kwargs, retries=retries,
        parent_id=parent_id, root_id=root_id, is_eager=True, called_directly=False,
        logfile=logfile, loglevel=loglevel or 0, hostname=socket.gethostname(),
        callbacks=_as_list(link), errbacks=_as_list(link_error), headers=headers,
        timelimit=(None, None) if limits == (None, None) else limits,
        ignore_result=bool(ignore), stamps=_eager_stamps(options),
        delivery_info={"is_eager": True, "exchange": options.get("exchange"),
                       "routing_key": options.get("routing_key"),
                       "priority": options.get("priority")},
    )


def _eager_stamps(options: dict[str, Any]) -> dict[str, Any]:
    """Stamps given as options (``Signature.stamp``), each as a list: Celery's eager form."""
    names = options.get("stamped_headers") or []
    return {name: value if isinstance(value := options.get(name, []), list) else [value]
            for name in ([names] if isinstance(names, str) else names)}


def _as_list(value: Any) -> list[Any] | None:
    """Celery's ``maybe_list``: None stays None, one signature becomes a list of one."""
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]


__all__ = ["apply_eagerly"]
