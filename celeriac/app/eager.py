"""``Task.apply`` and ``task_always_eager``: run a task here, under a request of its own.

As in Celery's eager tracer: the task object is called when its class overrides ``__call__``
(``run`` otherwise), and with ``task_store_eager_result`` (or the task's
``store_eager_result``) the outcome is also written to the result store, unless results are
ignored, so ``AsyncResult(id)`` elsewhere reads what the eager call did.
"""

from __future__ import annotations

import traceback as tb
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.backends.base import store_with_reply_to
from celeriac.exceptions import Retry
from celeriac.execution.context import Context
from celeriac.execution.eager_signals import call_with_signals
from celeriac.execution.overrides import has_custom_call
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.results.async_result import EagerResult

if TYPE_CHECKING:
    from celeriac.app.task import Task


def apply_eagerly(task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any],
                  task_id: str | None = None, **options: Any) -> EagerResult:
    """Run ``task`` in-process; exceptions propagate when ``task_eager_propagates`` is set.

    ``self.retry()`` inside runs the task again here, with ``retries + 1`` (Celery's
    ``apply``), until it returns, fails, or exceeds ``max_retries``.
    """
    task_id = task_id or str(uuid.uuid4())
    retries = int(options.get("retries") or 0)
    while True:
        try:
            return _apply_once(task, list(args), kwargs, task_id, retries, options)
        except Retry as retry:
            if retry.sig is None:  # raised by the body itself, not by self.retry()
                meta = ResultMeta(task_id, states.RETRY, str(retry))
                return EagerResult(task_id, meta, task.app, exception=retry)
            args, kwargs = list(retry.sig["args"]), dict(retry.sig["kwargs"])
            retries += 1


def _apply_once(task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], task_id: str,
                retries: int, options: dict[str, Any]) -> EagerResult:
    custom_call = has_custom_call(task)
    context = Context(id=task_id, task=task.name, args=args, kwargs=kwargs,
                      is_eager=True, called_directly=False, root_id=task_id, retries=retries,
                      ignore_result=bool(options.get("ignore_result", False)),
                      stamps=_eager_stamps(options), _protected=0 if custom_call else 1)
    token = task.push_request(context)
    try:
        try:
            retval = call_with_signals(task, context, task if custom_call else task.run, args,
                                       kwargs)
        finally:
            task.pop_request(token)
    except Retry:
        raise
    except Exception as exc:
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        meta = ResultMeta(task_id, states.FAILURE, encode_exception(exc), trace,
                          date_done=now_iso())
        _store_if_asked(task, context, meta, errors=True)
        if options.get("throw", task.app.conf.task_eager_propagates):
            raise
        return EagerResult(task_id, meta, task.app, exception=exc)
    meta = ResultMeta(task_id, states.SUCCESS, retval, date_done=now_iso())
    _store_if_asked(task, context, meta, errors=False)
    return EagerResult(task_id, meta, task.app)


def _eager_stamps(options: dict[str, Any]) -> dict[str, Any]:
    """Stamps given as options (``Signature.stamp``), each as a list: Celery's eager form."""
    names = options.get("stamped_headers") or []
    return {name: value if isinstance(value := options.get(name, []), list) else [value]
            for name in ([names] if isinstance(names, str) else names)}


def _store_if_asked(task: Task[Any, Any], context: Context, meta: ResultMeta,
                    errors: bool) -> None:
    """Celery 5.1+'s ``task_store_eager_result``; errors are stored even if results are
    ignored, as Celery's eager tracer does."""
    conf = task.app.conf
    wanted = task.store_eager_result
    if not (conf.task_store_eager_result if wanted is None else wanted):
        return
    ignored = context.ignore_result or bool(
        conf.task_ignore_result if task.ignore_result is None else task.ignore_result)
    if ignored and not errors:
        return
    # rpc:// sends it to this client's own reply queue, where its AsyncResult looks
    store_with_reply_to(task.app.backend, [(task.app.oid, meta)])
