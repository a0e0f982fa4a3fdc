"""``TaskRunner``: runs one request of one task and turns whatever happens into an Outcome.

Built once per (task, process): which hooks and signals are live is decided here, once, so a
task nobody instruments pays nothing for instrumentation. ``run`` never raises (except the
non-``Exception`` errors a task may raise, such as ``SystemExit``).

A run has three steps, so a pool can put its own machinery around the middle one only:

* ``prepare``: decode the body, build and push the request context, ``task_prerun``, store
  STARTED;
* ``execute``: the task's own code (``before_start``, the body, its autoretry policy). Only
  this step runs under the soft time limit, and only this step is what an asyncio pool will
  await;
* ``finish``: the outcome, its result record, callbacks/errbacks, hooks, ``task_postrun``,
  pop the request context.
"""

from __future__ import annotations

import logging
import os
import time
import traceback as tb
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac._state import current_task_var, join_will_block_var, request_var
from celeriac.backends.base import store_with_reply_to
from celeriac.backends.celery_api import prepare_value
from celeriac.exceptions import EncodeError, Ignore, Reject, Retry, SoftTimeLimitExceeded
from celeriac.execution.autoretry import autoretry, wants_autoretry
from celeriac.execution.callbacks import send_callbacks, send_errbacks, trail_children
from celeriac.execution.outcome import Disposition, Outcome, UnannouncedFailure
from celeriac.execution.overrides import has_custom_call, overrides
from celeriac.execution.time_limits import SoftLimiter, TimeLimits, resolve_time_limits
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.protocol.task_message import TaskBody, decode_body
from celeriac.serialization import registry
from celeriac.utils.einfo import ExceptionInfo
from celeriac.utils.saferepr import saferepr

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.execution.context import Context
    from celeriac.execution.request import Request

logger = logging.getLogger("celeriac.app.trace")

_PLAIN = (int, float, str, bool, type(None))


@dataclass(slots=True)
class Running:
    """One request between ``prepare`` and ``finish``: what the three steps share."""

    request: Request
    body: TaskBody
    context: Context
    started: float
    request_token: Token[Context | None]
    task_token: Token[Any]
    block_token: Token[bool]


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
        self.hooks = {name for name in ("before_start", "on_success", "on_failure",
                                        "on_retry", "after_return") if overrides(task, name)}
        self.autoretry_for = tuple(task.autoretry_for)
        #: Errors the task expects (``throws``): logged at INFO, without their traceback.
        self.throws = tuple(task.throws)
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
        lost = task.reject_on_worker_lost
        #: Requeue (rather than fail) an ``acks_late`` request whose prefork child died.
        self.reject_on_worker_lost = bool(
            conf.task_reject_on_worker_lost if lost is None else lost)
        #: Keep a repr of ignored results for ``task-succeeded`` (task events on: -E).
        self.result_reprs = bool(conf.worker_send_task_events)

    def limits(self, request: Request) -> TimeLimits:
        """The hard and soft limits of ``request`` (header, then task, then settings)."""
        return resolve_time_limits(request.headers, self.task, *self._default_limits)

    # -- the whole run ---------------------------------------------------------------------
    def run(self, request: Request, limiter: SoftLimiter | None = None) -> Outcome:
        """``prepare``, ``execute`` (under ``limiter``'s soft limit, if any), ``finish``."""
        running = self.prepare(request)
        if isinstance(running, Outcome):
            return running
        token = limiter.arm(self.limits(request).soft) if limiter is not None else 0
        error: BaseException | None = None
        try:
            retval = self.execute(running)
        except BaseException as exc:
            retval, error = None, exc
        if token and limiter is not None:
            # Disarmed before ``finish``: a late limit must not fire in its broker I/O. Not
            # ``contextlib.suppress``: a pending limit would arrive in its ``__init__``.
            try:  # noqa: SIM105
                limiter.disarm(token)
            except SoftTimeLimitExceeded:
                pass  # fired just as the task ended; its outcome stands
        return self.finish(running, retval, error)

    # -- the three steps -------------------------------------------------------------------
    def prepare(self, request: Request) -> Running | Outcome:
        """Make ``request`` ready to execute; an Outcome (nothing ran) if it cannot be."""
        started = time.monotonic()
        try:
            body = request.body or decode_body(request.delivery.message, self.accept)
        except Exception as exc:
            return Outcome(request.task_id, states.REJECTED, None, Disposition.SET_ASIDE,
                           reason=f"undecodable body: {exc}")
        context = request.context(body)
        # Only a custom ``__call__`` calling ``super().__call__`` may adopt this request.
        context._protected = 0 if self.custom_call else 1
        if self.track_started:
            self._store_started(context)
        task = self.task
        running = Running(request, body, context, started, request_var.set(context),
                          current_task_var.set(task), join_will_block_var.set(True))
        if signals.task_prerun.has_receivers:
            try:
                signals.task_prerun.send(sender=task, task_id=context.id, task=task,
                                         args=body.args, kwargs=body.kwargs)
            except BaseException:
                self._pop(running)
                raise
        return running

    def execute(self, running: Running) -> Any:
        """The task's own code; returns what it returned, raises what it raised."""
        task, body = self.task, running.body
        if "before_start" in self.hooks:
            task.before_start(running.request.task_id, body.args, body.kwargs)
        try:
            if self.custom_call:
                return task(*body.args, **body.kwargs)
            return task.run(*body.args, **body.kwargs)
        except Exception as exc:
            if self.autoretry_for and wants_autoretry(task, exc, self.autoretry_for):
                autoretry(task, exc)
            raise

    def finish(self, running: Running, retval: Any, error: BaseException | None) -> Outcome:
        """Turn what ``execute`` did into the Outcome; ``error`` is what it raised, if any.

        A non-``Exception`` error (``SystemExit``...) is re-raised once the request is popped.
        """
        try:
            outcome = self._outcome(running, retval, error)
            if signals.task_postrun.has_receivers:
                task, body = self.task, running.body
                signals.task_postrun.send(
                    sender=task, task_id=running.context.id, task=task, args=body.args,
                    kwargs=body.kwargs, state=outcome.state,
                    retval=outcome.meta.result if outcome.meta else None)
        finally:
            self._pop(running)
        self._log(running.context, outcome, error)
        return outcome

    def _pop(self, running: Running) -> None:
        join_will_block_var.reset(running.block_token)
        current_task_var.reset(running.task_token)
        request_var.reset(running.request_token)

    # -- outcomes: each is built once, with its runtime (up to ``task_postrun``, as Celery's) --
    def _outcome(self, running: Running, retval: Any, error: BaseException | None) -> Outcome:
        if error is None:
            try:
                return self._succeeded(running, retval)
            except BaseException as exc:  # encoding, callbacks or hooks failed: as Celery
                error = exc
        if isinstance(error, Retry):
            return self._retried(running, error)
        if isinstance(error, Reject):
            return self._rejected(running, error)
        if isinstance(error, Ignore):
            logger.info("Task %s[%s] ignored", self._name(running.context), running.context.id)
            return Outcome(running.request.task_id, states.IGNORED, None, Disposition.ACK,
                           time.monotonic() - running.started)
        if isinstance(error, Exception):
            return self._failed(running, error)
        raise error

    # -- a failure announced for a process that could not ----------------------------------
    def announce_failure(self, request: Request, outcome: UnannouncedFailure) -> None:
        """Errbacks, ``on_failure`` and ``task_failure`` for a failure recorded by the pool
        because the task's own process could not (its prefork child died, or was killed at
        the hard time limit). Celery's parent does the same; here the worker's consumer
        thread calls it, never the thread that enforces time limits."""
        error = outcome.error
        if request.body is None or error is None:
            return
        trace = outcome.meta.traceback if outcome.meta is not None else None
        context = request.context(request.body)
        try:
            self._failure_hooks(context, error, trace or "", trace)
        except Exception:
            logger.exception("Failure hooks of %s[%s] failed", request.task_name,
                             request.task_id)

    def _succeeded(self, running: Running, retval: Any) -> Outcome:
        context = running.context
        task_id = context.id or ""
        if not isinstance(retval, _PLAIN):
            # A returned AsyncResult/GroupResult is stored as its tuple form (Celery's
            # prepare_value), so the caller's ``collect()`` can follow it.
            retval = prepare_value(retval, self.result_serializer)
            try:
                registry.dumps(retval, self.result_serializer)
            except Exception as exc:
                error = EncodeError(
                    f"Task {self.task.name}[{task_id}] returned a value that the "
                    f"{self.result_serializer!r} result serializer cannot encode: "
                    f"{saferepr(retval, 200)} ({exc})"
                )
                return self._failed(running, error)
        trail = context._children  # what the task sent (``Task.trail``), before callbacks
        sent = len(trail) if trail else 0
        children = send_callbacks(self.app, context, retval)
        if sent and trail:
            children = trail_children(trail[:sent]) + children
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
        shown = saferepr(retval, self.task.resultrepr_maxsize) if (  # None: events say "None"
            meta is None and self.result_reprs and retval is not None) else None
        return Outcome(task_id, states.SUCCESS, meta, Disposition.ACK,
                       time.monotonic() - running.started, result_repr=shown)

    def _failed(self, running: Running, exc: Exception) -> Outcome:
        context = running.context
        task_id = context.id or ""
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        meta = None
        if self.store_errors or not (self.ignore_result or context.ignore_result):
            meta = self._meta(context, states.FAILURE, encode_exception(exc), trace, [])
        self._failure_hooks(context, exc, trace, trace)
        if "after_return" in self.hooks:
            self.task.after_return(states.FAILURE, exc, task_id, context.args,
                                   context.kwargs, trace)
        disposition = Disposition.ACK
        if running.request.acks_late and not self.acks_on_failure:
            disposition = Disposition.SET_ASIDE  # Celery rejects it (to a DLX, if any)
        return Outcome(task_id, states.FAILURE, meta, disposition,
                       time.monotonic() - running.started, f"{type(exc).__name__}: {exc}")

    def _rejected(self, running: Running, reject: Reject) -> Outcome:
        """``Reject`` raised by the task, as Celery's worker handles it: the message goes back
        to the queue (``requeue=True``) or to the dead letters; without requeue the task will
        never run again, so FAILURE is stored and errbacks and ``task_failure`` run (Celery
        5.7, its issue #4222), but not ``on_failure``: Celery's worker does not call it."""
        context = running.context
        logger.warning("Task %s[%s] %r", self._name(context), context.id, reject,
                       exc_info=(type(reject), reject, reject.__traceback__))
        meta = None
        if not reject.requeue:
            trace = "".join(tb.format_exception(type(reject), reject, reject.__traceback__))
            if self.store_errors or not (self.ignore_result or context.ignore_result):
                meta = self._meta(context, states.FAILURE, encode_exception(reject), trace, [])
            self._failure_hooks(context, reject, trace, trace, on_failure=False)
        return Outcome(running.request.task_id, states.REJECTED, meta,
                       Disposition.REQUEUE if reject.requeue else Disposition.SET_ASIDE,
                       time.monotonic() - running.started,
                       f"rejected by task: {reject.reason!r}")

    def _failure_hooks(self, context: Context, exc: BaseException, trace: str,
                       einfo: str | None, on_failure: bool = True) -> None:
        """Errbacks, ``on_failure``, ``task_failure``: what every failure announces."""
        send_errbacks(self.app, context, exc, trace)
        if on_failure and "on_failure" in self.hooks:
            self.task.on_failure(exc, context.id or "", context.args, context.kwargs, einfo)
        if signals.task_failure.has_receivers:
            signals.task_failure.send(sender=self.task, task_id=context.id or "", exception=exc,
                                      args=context.args, kwargs=context.kwargs,
                                      traceback=exc.__traceback__,
                                      einfo=ExceptionInfo(trace, exc))

    def _retried(self, running: Running, retry: Retry) -> Outcome:
        context = running.context
        task_id = context.id or ""
        exc = retry.exc if isinstance(retry.exc, BaseException) else retry
        trace = "".join(tb.format_exception(type(retry), retry, retry.__traceback__))
        meta = self._meta(context, states.RETRY, encode_exception(exc), trace, [])
        if "on_retry" in self.hooks:
            self.task.on_retry(exc, task_id, context.args, context.kwargs, trace)
        if signals.task_retry.has_receivers:
            signals.task_retry.send(sender=self.task, request=context, reason=retry,
                                    einfo=ExceptionInfo(trace, exc))
        return Outcome(task_id, states.RETRY, meta, Disposition.ACK,
                       time.monotonic() - running.started, str(retry))

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
            # django-celery-beat's header; the django-db store keeps it in its own column.
            periodic = (context.headers or {}).get("periodic_task_name")
            if periodic is not None:
                extended["periodic_task_name"] = periodic
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

    def _name(self, context: Context) -> str:
        """The name logs show: the request's ``shadow`` (``Task.shadow_name``) if any."""
        return context.shadow or self.task.name

    def _log(self, context: Context, outcome: Outcome, error: BaseException | None) -> None:
        if outcome.state == states.SUCCESS:
            if logger.isEnabledFor(logging.INFO):
                result = outcome.meta.result if outcome.meta else None
                logger.info("Task %s[%s] succeeded in %.6fs: %s",
                            context.shadow or self.task.name, context.id, outcome.runtime,
                            saferepr(result, self.task.resultrepr_maxsize))
        elif outcome.state == states.FAILURE:
            if self.throws and isinstance(error, self.throws):  # Celery's "expected" policy
                logger.info("Task %s[%s] raised expected: %s", self._name(context), context.id,
                            saferepr(error))
                return
            trace = outcome.meta.traceback if outcome.meta else outcome.reason
            logger.error("Task %s[%s] raised unexpected: %s\n%s", self._name(context),
                         context.id, outcome.reason, trace)
        elif outcome.state == states.RETRY:
            logger.info("Task %s[%s] retry: %s", self._name(context), context.id,
                        outcome.reason)
