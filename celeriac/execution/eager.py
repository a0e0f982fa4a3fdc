"""``Task.apply`` and ``task_always_eager``: run a task here, through the same runner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app.request import Context
from celeriac.app.task import Task
from celeriac.exceptions import Retry
from celeriac.execution.eager_signals import call_with_signals
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.results.async_result import EagerResult

if TYPE_CHECKING:
    pass


def apply_eagerly(task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any],
                  task_id: str | None = None, **options: Any) -> EagerResult:
    """Run ``task`` in-process; exceptions propagate when ``task_eager_propagates`` is set."""
    task_id = task_id or str(uuid.uuid4())
    context = Context(id=task_id, task=task.name, args=list(args), kwargs=kwargs,
                      is_eager=True, called_directly=False, root_id=task_id,
                      retries=int(options.get("retries") or 0))
    token = Task.push_request(context)
    try:
        try:
            retval = call_with_signals(task, context, task.run, args, kwargs)
        finally:
            Task.pop_request(token)
    except Retry as retry:
        meta = ResultMeta(task_id, states.RETRY, str(retry))
        return EagerResult(task_id, meta, task.app, exception=retry)
    except Exception as exc:
        if options.get("throw", task.app.conf.task_eager_propagates):
            raise
        meta = ResultMeta(task_id, states.FAILURE, encode_exception(exc), date_done=now_iso())
        return EagerResult(task_id, meta, task.app, exception=exc)
    meta = ResultMeta(task_id, states.SUCCESS, retval, date_done=now_iso())
    return EagerResult(task_id, meta, task.app)
