"""``Task.retry``: re-send the running request, as Celery 5.7's ``Task.retry`` does.

A mixin of ``Task`` (kept apart so ``app/task.py`` stays one concept: the task's options and
calls). What is Celery's, exactly: the argument merge (``retry(args=...)`` on a request
that had keyword arguments keeps the ones the new positional arguments do not cover, and
``retry(kwargs=...)`` rebinds the request's positional arguments), the re-sent options
(``signature_from_request``), ``throw=False`` returning the ``Retry``, and a failed re-send
becoming ``Reject(requeue=False)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

from celeriac.exceptions import MaxRetriesExceededError, Reject, Retry
from celeriac.execution.autoretry import backoff_countdown

if TYPE_CHECKING:
    from celeriac.app.task import Task
    from celeriac.canvas.signature import Signature
    from celeriac.execution.context import Context

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def merge_retry_arguments(run: Any, request: Context, args: Sequence[Any] | None,
                          kwargs: Mapping[str, Any] | None
                          ) -> tuple[Sequence[Any] | None, Mapping[str, Any] | None]:
    """The arguments of the retry when only one of ``args``/``kwargs`` was given and the
    request had the other kind (Celery 5.7's merge; its issue #9961)."""
    if not ((args is not None and kwargs is None and request.kwargs)
            or (kwargs is not None and args is None and request.args)):
        return args, kwargs
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError):
        return args, kwargs  # the usual argument checks will say what is wrong
    if args is not None:
        positional = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
        merged = dict(request.kwargs)
        for param in positional[:len(args)]:
            if param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
                merged.pop(param.name, None)
        return args, merged
    try:
        bound = signature.bind_partial(*request.args)
    except TypeError:
        return args, kwargs
    rest = dict(kwargs or {})
    for name in list(rest):
        if (name in bound.arguments and signature.parameters[name].kind
                is inspect.Parameter.POSITIONAL_OR_KEYWORD):
            bound.arguments[name] = rest.pop(name)
    return bound.args, {**bound.kwargs, **rest}


class RetryMixin:
    """``retry``, ``retry_delay`` and ``signature_from_request`` of ``Task``."""

    @overload
    def retry(self, args: Sequence[Any] | None = ..., kwargs: Mapping[str, Any] | None = ...,
              exc: BaseException | None = ..., throw: Literal[True] = ...,
              eta: datetime | None = ..., countdown: float | None = ...,
              max_retries: int | None = ..., **options: Any) -> NoReturn: ...
    @overload
    def retry(self, args: Sequence[Any] | None = ..., kwargs: Mapping[str, Any] | None = ...,
              exc: BaseException | None = ..., *, throw: Literal[False],
              eta: datetime | None = ..., countdown: float | None = ...,
              max_retries: int | None = ..., **options: Any) -> Retry: ...
    def retry(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Re-send this request with ``retries + 1`` and raise ``Retry`` (return it with
        ``throw=False``).

        In a task called directly (not by a worker, not by ``apply``), ``exc`` is raised, or
        ``Retry("Task can be retried")`` without one, as Celery does: there is no message to
        re-send. Under ``apply()`` (``task_always_eager``), nothing is sent either: ``apply``
        runs the retry at once, in this process.

        Beyond Celery: with ``retry_backoff`` set and no countdown/eta given, the backoff
        applies (Celery falls back to ``default_retry_delay``).

        Raises:
            Retry: once the retry message is sent (the worker records RETRY).
            MaxRetriesExceededError: past ``max_retries``, unless ``exc`` is given, which is
                then re-raised instead.
            Reject: the retry could not be sent (``requeue=False``, as Celery).
        """
        task: Task[Any, Any] = self  # type: ignore[assignment]
        request = task.request
        if request.called_directly:
            # Not run by a worker nor by apply(): nothing to re-send, as in Celery.
            raise exc or Retry("Task can be retried", None)
        retries = request.retries + 1
        limit = task.max_retries if max_retries is None else max_retries
        if countdown is None and eta is None:
            countdown = self.retry_delay(retries)
        args, kwargs = merge_retry_arguments(task.run, request, args, kwargs)
        sig = self.signature_from_request(request, args, kwargs, countdown=countdown, eta=eta,
                                          retries=retries, **options)
        if limit is not None and retries > limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {task.name}[{request.id}] args:{sig.args} kwargs:{sig.kwargs}",
                task_args=sig.args, task_kwargs=sig.kwargs)
        retry = Retry(exc=exc, when=eta or countdown, is_eager=request.is_eager, sig=sig)
        if not request.is_eager:  # apply() runs the retry itself, here and now
            try:
                sig.apply_async()
            except Exception as error:
                raise Reject(error, requeue=False) from error
        if throw:
            raise retry from exc
        return retry

    def retry_delay(self, retries: int) -> float:
        """Seconds before retry number ``retries``: Celery's exponential backoff when
        ``retry_backoff`` is set, else ``default_retry_delay``."""
        task: Task[Any, Any] = self  # type: ignore[assignment]
        if not task.retry_backoff:
            return float(task.default_retry_delay)
        return float(backoff_countdown(task, retries - 1))

    def signature_from_request(self, request: Context | None = None,
                               args: Sequence[Any] | None = None,
                               kwargs: Mapping[str, Any] | None = None,
                               queue: str | None = None, **extra_options: Any) -> Signature:
        """A signature re-sending ``request`` (default: the running one) with the same
        options (queue, priority, time limits, links, headers...), as Celery's."""
        task: Task[Any, Any] = self  # type: ignore[assignment]
        request = task.request if request is None else request
        options = {**request.as_execution_options(), **extra_options}
        if request.ignore_result:
            options["ignore_result"] = True
        if queue:
            options["queue"] = queue
        return task.signature(request.args if args is None else args,
                              request.kwargs if kwargs is None else kwargs, **options)

    subtask_from_request = signature_from_request


__all__ = ["RetryMixin", "merge_retry_arguments"]
