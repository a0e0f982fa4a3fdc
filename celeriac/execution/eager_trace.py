"""The eager tracer: one run of a task in this process (``Task.apply``,
``task_always_eager``), doing what Celery's tracer does with ``eager=True``.

Around the body: ``task_prerun``, ``before_start``; after it, by outcome:

* success: links and the next chain step are applied (eagerly under ``task_always_eager``,
  sent otherwise), the result is stored if asked (``store_eager_result``), then
  ``on_success``, ``task_success`` and ``after_return``;
* failure: stored if asked, errbacks, ``on_failure``, ``task_failure``, ``after_return``;
* retry (``self.retry()``): stored if asked, ``on_retry``, ``task_retry`` (``Task.apply``
  then runs the task again);
* ``Ignore``/``Reject``: only ``task_postrun``, with IGNORED/REJECTED;

and ``task_postrun`` last, while the request is still pushed. With ``propagate``
(``throw=True``, ``task_eager_propagates``) a failure or retry is raised at once, as Celery
does: no failure hooks run and ``task_postrun`` reports state and retval None.
"""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from celeriac import signals, states
from celeriac._state import current_task_var
from celeriac.backends.base import store_with_reply_to
from celeriac.exceptions import Ignore, Reject, Retry
from celeriac.execution.autoretry import with_autoretry
from celeriac.execution.callbacks import send_callbacks, send_errbacks
from celeriac.execution.overrides import has_custom_call, overrides
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.utils.einfo import ExceptionInfo

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.execution.context import Context

#: Outcomes after which ``after_return`` is not called (Celery's ``IGNORE_STATES``).
IGNORE_STATES: Final = frozenset({states.IGNORED, states.RETRY, states.REJECTED})


@dataclass(slots=True)
class EagerOutcome:
    """What one eager run ended with: Celery's ``(state, retval, traceback)``."""

    state: str
    retval: Any
    traceback: str | None = None


def trace_eagerly(task: Task[Any, Any], context: Context, propagate: bool) -> EagerOutcome:
    """Run ``task`` under ``context`` (already built: id, args, kwargs, links...)."""
    args, kwargs = context.args, context.kwargs
    custom_call = has_custom_call(task)
    context._protected = 0 if custom_call else 1
    state: str | None = None
    retval: Any = None
    trace: str | None = None
    request_token = task.push_request(context)
    task_token = current_task_var.set(task)
    try:
        if signals.task_prerun.has_receivers:
            signals.task_prerun.send(sender=task, task_id=context.id, task=task, args=args,
                                     kwargs=kwargs)
        try:
            retval = _call(task, task if custom_call else task.run, context)
        except (Reject, Ignore) as exc:
            state = states.REJECTED if isinstance(exc, Reject) else states.IGNORED
            retval, trace = exc, _format(exc)
        except Retry as exc:
            if propagate:
                raise
            state, retval, trace = states.RETRY, exc, _format(exc)
            _retried(task, context, exc, trace)
        except Exception as exc:
            if propagate:
                raise
            state, retval, trace = states.FAILURE, exc, _format(exc)
            _failed(task, context, exc, trace)
        else:
            state = states.SUCCESS
            _succeeded(task, context, retval)
        if state not in IGNORE_STATES and overrides(task, "after_return"):
            task.after_return(state, retval, context.id or "", args, kwargs, None)
    finally:
        try:
            if signals.task_postrun.has_receivers:
                signals.task_postrun.send(sender=task, task_id=context.id, task=task,
                                          args=args, kwargs=kwargs, retval=retval,
                                          state=state)
        finally:
            current_task_var.reset(task_token)
            task.pop_request(request_token)
    return EagerOutcome(state, retval, trace)


def _call(task: Task[Any, Any], fun: Any, context: Context) -> Any:
    """``before_start``, then the body; ``autoretry_for`` errors become ``self.retry()``."""
    if overrides(task, "before_start"):
        task.before_start(context.id or "", context.args, context.kwargs)
    return with_autoretry(task, fun)(*context.args, **context.kwargs)


def _succeeded(task: Task[Any, Any], context: Context, retval: Any) -> None:
    children = send_callbacks(task.app, context, retval)
    if _stores(task, context, errors=False):
        _store(task, context, ResultMeta(context.id or "", states.SUCCESS, retval, None,
                                         children, now_iso(), parent_id=context.parent_id))
    if overrides(task, "on_success"):
        task.on_success(retval, context.id or "", context.args, context.kwargs)
    if signals.task_success.has_receivers:
        signals.task_success.send(sender=task, result=retval)


def _failed(task: Task[Any, Any], context: Context, exc: Exception, trace: str) -> None:
    if _stores(task, context, errors=True):
        _store(task, context, ResultMeta(context.id or "", states.FAILURE,
                                         encode_exception(exc), trace, [], now_iso(),
                                         parent_id=context.parent_id))
    send_errbacks(task.app, context, exc, trace)
    einfo = ExceptionInfo(trace, exc)
    if overrides(task, "on_failure"):
        task.on_failure(exc, context.id or "", context.args, context.kwargs, einfo)
    if signals.task_failure.has_receivers:
        signals.task_failure.send(sender=task, task_id=context.id, exception=exc,
                                  args=context.args, kwargs=context.kwargs,
                                  traceback=exc.__traceback__, einfo=einfo)


def _retried(task: Task[Any, Any], context: Context, retry: Retry, trace: str) -> None:
    reason = retry.exc if isinstance(retry.exc, BaseException) else retry
    if _stores(task, context, errors=True):
        _store(task, context, ResultMeta(context.id or "", states.RETRY,
                                         encode_exception(reason), trace, [],
                                         parent_id=context.parent_id))
    einfo = ExceptionInfo(trace, retry)
    if overrides(task, "on_retry"):
        task.on_retry(reason, context.id or "", context.args, context.kwargs, einfo)
    if signals.task_retry.has_receivers:
        signals.task_retry.send(sender=task, request=context, reason=retry, einfo=einfo)


def _stores(task: Task[Any, Any], context: Context, errors: bool) -> bool:
    """Celery's eager rule: results are stored with ``store_eager_result`` (the task's, else
    ``task_store_eager_result``) unless ignored; an ignored task's errors are stored with
    ``store_errors_even_if_ignored``."""
    conf = task.app.conf
    wanted = task.store_eager_result
    store_eager = bool(conf.task_store_eager_result if wanted is None else wanted)
    if context.ignore_result:
        if not errors:
            return False
        even = task.store_errors_even_if_ignored
        return bool(conf.task_store_errors_even_if_ignored if even is None else even)
    return store_eager


def _store(task: Task[Any, Any], context: Context, meta: ResultMeta) -> None:
    # rpc:// sends it to this client's own reply queue, where its AsyncResult looks
    store_with_reply_to(task.app.backend, [(task.app.oid, meta)])


def _format(exc: BaseException) -> str:
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
