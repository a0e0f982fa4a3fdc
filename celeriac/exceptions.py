"""The error tree, with Celery's names so ``except celery.exceptions.X`` ports one-for-one.

::

    CeleriacError
     ├── ImproperlyConfigured
     ├── NotRegistered (also a KeyError)
     ├── ContentDisallowed
     ├── InvalidMessage
     ├── DecodeError
     ├── OperationalError        (a broker or store could not be reached)
     │    ├── BrokerRefusedError (it answered, and refused: retrying cannot help)
     │    └── BrokerConnectionLost (reconnecting ran out of broker_connection_max_retries)
     ├── TimeoutError            (AsyncResult.get timed out)
     ├── TaskError
     │    ├── WorkerLostError
     │    ├── TimeLimitExceeded
     │    ├── TaskRevokedError
     │    ├── ChordError
     │    └── MaxRetriesExceededError
     ├── SecurityError
     └── TaskPredicate           (control flow raised inside tasks)
          ├── Retry
          ├── Ignore
          └── Reject
    SoftTimeLimitExceeded        (an Exception, so a task can catch it)
"""

from __future__ import annotations

from typing import Any


class CeleriacError(Exception):
    """Base of every error celeriac raises on its own account."""


CeleryError = CeleriacError


class ImproperlyConfigured(CeleriacError):
    """A setting is missing, malformed or names something that does not exist."""


class NotRegistered(CeleriacError, KeyError):
    """A task name that no registered task answers to."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "NotRegistered"


class ContentDisallowed(CeleriacError):
    """A message's content type is not in ``accept_content``: it is never decoded."""


class InvalidMessage(CeleriacError):
    """A message whose envelope, headers or body do not follow the protocol."""


class DecodeError(InvalidMessage):
    """The body could not be deserialized with the codec its content type names."""


class EncodeError(CeleriacError):
    """A value could not be serialized (a task argument or a task's return value)."""


class OperationalError(CeleriacError):
    """The broker or the result store could not be reached after the retry policy ran out."""


class BrokerRefusedError(OperationalError):
    """The broker answered and refused the request for good: a message over its size limit,
    a server out of memory, bad credentials, a denied permission.

    Raised at once, never retried as a connection problem: the same request would be refused
    again. A subclass of ``OperationalError`` so ``except OperationalError`` around ``delay()``
    still catches it.
    """


class BrokerConnectionLost(OperationalError):
    """The broker connection broke and was not re-established within
    ``broker_connection_max_retries`` (at once with ``broker_connection_retry=False``).

    A worker that meets it stops with a non-zero status, as Celery's does.
    """


class TimeoutError(CeleriacError):
    """``AsyncResult.get`` waited longer than its timeout."""


class TaskError(CeleriacError):
    """Base of errors recorded as a task's outcome."""


class IncompleteStream(TaskError):
    """Found the end of a stream of data, but the data isn't complete
    (``AsyncResult.collect`` met a result that is not ready)."""


class WorkerLostError(TaskError):
    """The process running the task died before reporting an outcome."""


class TimeLimitExceeded(TaskError):
    """The hard time limit killed the task."""


class TaskRevokedError(TaskError):
    """The task was revoked (or expired) before it could finish."""


class ChordError(TaskError):
    """A chord header task failed, so the body cannot run."""


class MaxRetriesExceededError(TaskError):
    """``Task.retry`` was called more than ``max_retries`` times."""

    def __init__(self, *args: Any, task_args: Any = None, task_kwargs: Any = None) -> None:
        super().__init__(*args)
        self.task_args = task_args
        self.task_kwargs = task_kwargs


class SecurityError(CeleriacError):
    """Refused to rebuild something that is not safe to rebuild (e.g. a non-exception class)."""


class QueueNotFound(ImproperlyConfigured, KeyError):
    """A task was routed to a queue missing from ``task_queues`` and creating it is off."""


class TaskPredicate(CeleriacError):
    """Control flow raised by a task body; not a failure of the task itself."""


class Retry(TaskPredicate):
    """Raised by ``Task.retry`` so the runner re-sends the task instead of failing it."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | str | None = None,
        when: float | Any = None,
        is_eager: bool = False,
        sig: Any = None,
    ) -> None:
        self.message = message
        self.exc = exc
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        when = f"in {self.when}s" if isinstance(self.when, int | float) else f"at {self.when}"
        return f"Retry {when}: {self.exc!r}" if self.exc is not None else f"Retry {when}"

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.message, self.exc, self.when)


class Ignore(TaskPredicate):
    """The task asks the worker to record nothing and acknowledge the message."""


class Reject(TaskPredicate):
    """The task asks the worker to reject its message, optionally requeueing it."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task when its soft time limit passes; the task may catch it and clean up."""


class CeleriacWarning(UserWarning):
    """Base of the warnings celeriac emits (Celery's ``CeleryWarning``)."""


CeleryWarning = CeleriacWarning


class FixupWarning(CeleriacWarning):
    """A framework fix-up cannot apply (``DJANGO_SETTINGS_MODULE`` set, Django missing)."""


class DuplicateNodenameWarning(CeleriacWarning):
    """Several live workers answer to one node name: remote control cannot tell them apart."""


__all__ = [
    "BrokerConnectionLost",
    "BrokerRefusedError",
    "CeleriacError",
    "CeleriacWarning",
    "CeleryError",
    "CeleryWarning",
    "ChordError",
    "ContentDisallowed",
    "DecodeError",
    "DuplicateNodenameWarning",
    "EncodeError",
    "FixupWarning",
    "Ignore",
    "ImproperlyConfigured",
    "IncompleteStream",
    "InvalidMessage",
    "MaxRetriesExceededError",
    "NotRegistered",
    "OperationalError",
    "QueueNotFound",
    "Reject",
    "Retry",
    "SecurityError",
    "SoftTimeLimitExceeded",
    "TaskError",
    "TaskPredicate",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
]
