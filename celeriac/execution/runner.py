"""``TaskRunner``: runs one request of one task and turns whatever happens into an Outcome.

Built once per (task, process): which hooks and signals are live is decided here, once, so a
task nobody instruments pays nothing for instrumentation. ``run`` never raises.
"""

from __future__ import annotations

import logging
import os
import time
import traceback as tb
from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac._state import current_task_var, join_will_block_var
from celeriac.app.task import Task, has_custom_call
from celeriac.backends.base import store_with_reply_to
from celeriac.exceptions import EncodeError, Ignore, Reject, Retry
from celeriac.execution.callbacks import send_callbacks, send_errbacks
from celeriac.execution.outcome import Disposition, Outcome
from celeriac.execution.time_limits import TimeLimits, resolve_time_limits
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.protocol.task_message import TaskBody, decode_body
from celeriac.serialization import registry
from celeriac.utils.einfo import ExceptionInfo
from celeriac.utils.saferepr import saferepr

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.execution.context import Context
    from celeriac.execution.request import Request

logger = logging.getLogger("celeriac.app.trace")

_PLAIN = (int, float, str, bool, type(None))


def _overridden(task: Task[Any, Any], hook: str) -> bool:
    return getattr(type(task), hook) is not getattr(Task, hook)


class TaskRunner:
    """Executes requests for one task. See the module docstring."""

    def __init__(self, app: Celery, task: Task[Any, Any], accept: frozenset[str]) -> None:
        conf = app.conf
        self.app = app
        self.task = task
        self.accept = accept
        self.result_serializer = str(conf.result_serializer or "json")
        self.extended = bool(conf.result_extended)
        self.track_started = bool(
            conf.task_track_started if task.track_started is None else task.track_started
        )
        ignore = task.ignore_result
        self.ignore_result = bool(conf.task_ignore_result if ignore is None else ignore)
        store_errors = task.store_errors_even_if_ignored
        self.store_errors = bool(
            conf.task_store_errors_even_if_ignored if store_errors is None else store_errors
        )
        self._current_acks_late = False
        self.hooks = {name for name in ("before_start", "on_success", "on_failure",
                                        "on_retry", "after_return") if _overridden(task, name)}
        self.autoretry_for = tuple(task.autoretry_for)
        # Celery's tracer: call the task object only when its class overrides ``__call__``
        # (Flask's app context, say); otherwise ``run`` directly, the fast path.
        self.custom_call = has_custom_call(task)
        self._default_limits = (conf.task_time_limit, conf.task_soft_time_limit)
        # Celery 5.7: acks_on_failure (task, then setting) else acks_on_failure_or_timeout.
        acks_on_failure = next(
            (value for value in (task.acks_on_failure, conf.task_acks_on_failure,
                                 task.acks_on_failure_or_timeout) if value is not None),
            conf.task_acks_on_failure_or_timeout,
        )
        self.acks_on_failure = bool(acks_on_failure)

    def limits(self, request: Request) -> TimeLimits:
        """The hard and soft limits of ``request`` (header, then task, then settings)."""
        return resolve_time_limits(request.headers, self.task, *self._default_limits)

    # -- the one entry point -------------------------------------------------------------
    def run(self, request: Request) -> Outcome:
        started = time.monotonic()
        try:
            body = request.body or decode_body(request.delivery.message, self.accept)
        except Exception as exc:
            return Outcome(request.task_id, states.REJECTED, None, Disposition.SET_ASIDE,
                           reason=f"undecodable body: {exc}")
        context = request.context(body)
        # Only a custom ``__call__`` calling ``super().__call__`` may adopt this request.
        context._protected = 0 if self.custom_call else 1
        self._current_acks_late = request.acks_late
        if self.track_started:
            self._store_started(context)
        token = Task.push_request(context)
        task_token = current_task_var.set(self.task)
        block_token = join_will_block_var.set(True)
        try:
            outcome = self._execute(request, context, body)
        finally:
            join_will_block_var.reset(block_token)
            current_task_var.reset(task_token)
            Task.pop_request(token)
        runtime = time.monotonic() - started
        self._log(context, outcome, runtime)
        return Outcome(outcome.task_id, outcome.state, outcome.meta, outcome.disposition,
                       runtime, outcome.reason)

    def _execute(self, request: Request, context: Context, body: TaskBody) -> Outcome:
        task = self.task
        if signals.task_prerun.has_receivers:
            signals.task_prerun.send(sender=task, task_id=context.id, task=task,
                                     args=body.args, kwargs=body.kwargs)
        try:
            if "before_start" in self.hooks:
                task.before_start(request.task_id, body.args, body.kwargs)
            try:
                if self.custom_call:
                    retval = task(*body.args, **body.kwargs)
                else:
                    retval = task.run(*body.args, **body.kwargs)
            except Exception as exc:
                if self.autoretry_for and isinstance(exc, self.autoretry_for):
                    task.retry(exc=exc, **dict(task.retry_kwargs))
                raise
            outcome = self._succeeded(context, retval)
        except Retry as retry:
            outcome = self._retried(context, retry)
        except Reject as reject:
            outcome = Outcome(request.task_id, states.REJECTED, None,
                              Disposition.REQUEUE if reject.requeue else Disposition.SET_ASIDE,
                              reason=f"rejected by task: {reject.reason!r}")
        except Ignore:
            outcome = Outcome(request.task_id, states.IGNORED, None)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            outcome = self._failed(context, exc)
        if signals.task_postrun.has_receivers:
            signals.task_postrun.send(sender=task, task_id=context.id, task=task,
                                      args=body.args, kwargs=body.kwargs, state=outcome.state,
                                      retval=outcome.meta.result if outcome.meta else None)
        return outcome

    # -- outcomes --------------------------------------------------------------------------
    def _succeeded(self, context: Context, retval: Any) -> Outcome:
        task_id = context.id or ""
        if not isinstance(retval, _PLAIN):
            try:
                registry.dumps(retval, self.result_serializer)
            except Exception as exc:
                error = EncodeError(
                    f"Task {self.task.name}[{task_id}] returned a value that the "
                    f"{self.result_serializer!r} result serializer cannot encode: "
                    f"{saferepr(retval, 200)} ({exc})"
                )
                return self._failed(context, error)
        children = send_callbacks(self.app, context, retval)
        meta = None
        if not (self.ignore_result or context.ignore_result):
            meta = self._meta(context, states.SUCCESS, retval, None, children)
        if "on_success" in self.hooks:
            self.task.on_success(retval, task_id, context.args, context.kwargs)
        if signals.task_success.has_receivers:
            signals.task_success.send(sender=self.task, result=retval)
        if "after_return" in self.hooks:
            self.task.after_return(states.SUCCESS, retval, task_id, context.args,
                                   context.kwargs, None)
        return Outcome(task_id, states.SUCCESS, meta)

    def _failed(self, context: Context, exc: Exception) -> Outcome:
        task_id = context.id or ""
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        meta = None
        if self.store_errors or not (self.ignore_result or context.ignore_result):
            meta = self._meta(context, states.FAILURE, encode_exception(exc), trace, [])
        send_errbacks(self.app, context, exc, trace)
        if "on_failure" in self.hooks:
            self.task.on_failure(exc, task_id, context.args, context.kwargs, trace)
        if signals.task_failure.has_receivers:
            signals.task_failure.send(sender=self.task, task_id=task_id, exception=exc,
                                      args=context.args, kwargs=context.kwargs,
                                      traceback=exc.__traceback__,
                                      einfo=ExceptionInfo(trace, exc))
        if "after_return" in self.hooks:
            self.task.after_return(states.FAILURE, exc, task_id, context.args,
                                   context.kwargs, trace)
        disposition = Disposition.ACK
        if self._current_acks_late and not self.acks_on_failure:
            disposition = Disposition.SET_ASIDE  # Celery rejects it (to a DLX, if any)
        return Outcome(task_id, states.FAILURE, meta, disposition,
                       reason=f"{type(exc).__name__}: {exc}")

    def _retried(self, context: Context, retry: Retry) -> Outcome:
        task_id = context.id or ""
        exc = retry.exc if isinstance(retry.exc, BaseException) else retry
        trace = "".join(tb.format_exception(type(retry), retry, retry.__traceback__))
        meta = self._meta(context, states.RETRY, encode_exception(exc), trace, [])
        if "on_retry" in self.hooks:
            self.task.on_retry(exc, task_id, context.args, context.kwargs, trace)
        if signals.task_retry.has_receivers:
            signals.task_retry.send(sender=self.task, request=context, reason=retry,
                                    einfo=ExceptionInfo(trace, exc))
        return Outcome(task_id, states.RETRY, meta, reason=str(retry))

    def _meta(self, context: Context, state: str, result: Any, trace: str | None,
              children: list[Any]) -> ResultMeta:
        extended = None
        if self.extended:
            extended = {
                "name": self.task.name,
                "args": context.args,
                "kwargs": context.kwargs,
                "worker": context.hostname,
                "retries": context.retries,
                "queue": context.delivery_info.get("routing_key"),
            }
        return ResultMeta(
            task_id=context.id or "",
            status=state,
            result=result,
            traceback=trace,
            children=children,
            date_done=now_iso() if state in states.READY_STATES else None,
            group_id=context.group,
            parent_id=context.parent_id,
            extended=extended,
        )

    def _store_started(self, context: Context) -> None:
        meta = self._meta(context, states.STARTED,
                          {"pid": os.getpid(), "hostname": context.hostname}, None, [])
        try:
            store_with_reply_to(self.app.backend, [(context.reply_to, meta)])
        except Exception as exc:
            logger.warning("Could not store STARTED for %s: %r", context.id, exc)

    def _log(self, context: Context, outcome: Outcome, runtime: float) -> None:
        if outcome.state == states.SUCCESS:
            if logger.isEnabledFor(logging.INFO):
                result = outcome.meta.result if outcome.meta else None
                logger.info("Task %s[%s] succeeded in %.6fs: %s", self.task.name, context.id,
                            runtime, saferepr(result, self.task.resultrepr_maxsize))
        elif outcome.state == states.FAILURE:
            trace = outcome.meta.traceback if outcome.meta else outcome.reason
            logger.error("Task %s[%s] raised unexpected: %s\n%s", self.task.name, context.id,
                         outcome.reason, trace)
        elif outcome.state == states.RETRY:
            logger.info("Task %s[%s] retry: %s", self.task.name, context.id, outcome.reason)
