"""The task signals of an eager call (``Task.apply``, ``task_always_eager``), as Celery's
eager tracer sends them.

A worker's ``TaskRunner`` sends ``task_prerun``, then ``task_success``/``task_failure``/
``task_retry``, then ``task_postrun``; an eager call sends the same, with the same arguments,
while its request is pushed (so receivers read ``task.request`` as they do in a worker).
Nothing is built unless a receiver is connected.
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac.exceptions import Ignore, Reject, Retry
from celeriac.utils.einfo import ExceptionInfo

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.execution.context import Context


def call_with_signals(task: Task[Any, Any], context: Context, fun: Callable[..., Any],
                      args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``fun(*args, **kwargs)`` between the signals a worker would send around it."""
    if signals.task_prerun.has_receivers:
        signals.task_prerun.send(sender=task, task_id=context.id, task=task, args=args,
                                 kwargs=kwargs)
    try:
        retval = fun(*args, **kwargs)
    except BaseException as exc:
        _raised(task, context, exc, args, kwargs)
        raise
    if signals.task_success.has_receivers:
        signals.task_success.send(sender=task, result=retval)
    _postrun(task, context, args, kwargs, states.SUCCESS, retval)
    return retval


def _raised(task: Task[Any, Any], context: Context, exc: BaseException, args: Sequence[Any],
            kwargs: dict[str, Any]) -> None:
    if isinstance(exc, Retry):
        if signals.task_retry.has_receivers:
            signals.task_retry.send(sender=task, request=context, reason=exc,
                                    einfo=_trace(exc))
        _postrun(task, context, args, kwargs, states.RETRY, exc)
    elif isinstance(exc, Ignore):
        _postrun(task, context, args, kwargs, states.IGNORED, exc)
    elif isinstance(exc, Reject):
        _postrun(task, context, args, kwargs, states.REJECTED, exc)
    elif isinstance(exc, Exception):
        if signals.task_failure.has_receivers:
            signals.task_failure.send(sender=task, task_id=context.id, exception=exc,
                                      args=args, kwargs=kwargs, traceback=exc.__traceback__,
                                      einfo=_trace(exc))
        _postrun(task, context, args, kwargs, states.FAILURE, exc)


def _postrun(task: Task[Any, Any], context: Context, args: Sequence[Any],
             kwargs: dict[str, Any], state: str, retval: Any) -> None:
    if signals.task_postrun.has_receivers:
        signals.task_postrun.send(sender=task, task_id=context.id, task=task, args=args,
                                  kwargs=kwargs, retval=retval, state=state)


def _trace(exc: BaseException) -> ExceptionInfo:
    return ExceptionInfo("".join(tb.format_exception(type(exc), exc, exc.__traceback__)), exc)
