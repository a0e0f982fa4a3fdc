"""The error tree, with Celery's names so ``except celery.exceptions.X`` ports one-for-one.

::

    CeleriacError
     ├── ImproperlyConfigured
     ├── TaskError
     │    ├── NotRegistered, QueueNotFound (also KeyErrors)
     │    ├── TimeoutError, IncompleteStream, AlreadyRegistered, InvalidTaskError
     ├── ContentDisallowed
     ├── InvalidMessage
     ├── DecodeError
     ├── OperationalError        (a broker or store could not be reached)
     │    ├── BrokerRefusedError (it answered, and refused: retrying cannot help)
     │    └── BrokerConnectionLost (reconnecting ran out of broker_connection_max_retries)
     │    ├── TaskRevokedError
     │    ├── ChordError
     │    └── MaxRetriesExceededError
     ├── SecurityError
     └── TaskPredicate           (control flow raised inside tasks)
          ├── Retry
          ├── Ignore
          └── Reject
    SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError, Terminated
                                 (plain Exceptions: billiard's in Celery)
    BackendError -> BackendGetMetaError, BackendStoreError
    WorkerShutdown, WorkerTerminate (SystemExit)
    CeleriacWarning (= CeleryWarning) -> AlwaysEagerIgnored, DuplicateNodenameWarning,
        DuplicateTaskNameWarning, FixupWarning, NotConfigured, SecurityWarning

The names and bases match ``celery.exceptions`` (tests/unit/test_exceptions_compat.py compares
them), with one deliberate difference: ``OperationalError`` is celeriac's own (Celery re-exports
kombu's, and celeriac does not depend on kombu), so it descends from ``CeleryError`` here.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, NoReturn


class CeleriacError(Exception):
    """Base of every error celeriac raises on its own account."""


CeleryError = CeleriacError


class ImproperlyConfigured(CeleriacError):
    """A setting is missing, malformed or names something that does not exist."""


class TaskError(CeleriacError):
    """Base of errors recorded as a task's outcome."""


class NotRegistered(KeyError, TaskError):
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


class TimeoutError(TaskError):
    """``AsyncResult.get`` waited longer than its timeout."""


class WorkerLostError(Exception):
    """The process running the task died before reporting an outcome (billiard's, in Celery)."""


class TimeLimitExceeded(Exception):
    """The hard time limit killed the task (billiard's, in Celery: not a ``CeleryError``)."""


class Terminated(Exception):
    """The task was terminated (``revoke(terminate=True)``; billiard's, in Celery)."""


class IncompleteStream(TaskError):
    """Found the end of a stream of data, but the data is not complete."""


class AlreadyRegistered(TaskError):
    """The task name is already registered."""


class InvalidTaskError(TaskError):
    """The task has invalid data or is not properly constructed."""


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


class QueueNotFound(KeyError, TaskError):
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


#: Celery's old name for :class:`Retry`.
RetryTaskError = Retry


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


class AlwaysEagerIgnored(CeleriacWarning):
    """``send_task`` ignores ``task_always_eager``."""


class DuplicateTaskNameWarning(CeleriacWarning):
    """Two tasks were registered under one name."""


class NotConfigured(CeleriacWarning):
    """Celery has not been configured, as no config module has been found."""


class SecurityWarning(CeleriacWarning):
    """Potential security issue found."""


class CPendingDeprecationWarning(PendingDeprecationWarning):
    """Warning of a deprecation in a future version."""


class CDeprecationWarning(DeprecationWarning):
    """Warning of a deprecated feature."""


class WorkerTerminate(SystemExit):
    """Signals that the worker should terminate immediately."""


#: Celery's old name for :class:`WorkerTerminate`.
SystemTerminate = WorkerTerminate


class WorkerShutdown(SystemExit):
    """Signals that the worker should perform a warm shutdown."""


class BackendError(Exception):
    """An issue writing or reading to/from the result store."""


class BackendGetMetaError(BackendError):
    """An issue reading a task's meta from the result store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.task_id = kwargs.get("task_id", "")
        super().__init__(*args)

    def __repr__(self) -> str:
        return f"{super().__repr__()} task_id:{self.task_id}"


class BackendStoreError(BackendError):
    """An issue writing a task's state to the result store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state = kwargs.get("state", "")
        self.task_id = kwargs.get("task_id", "")
        super().__init__(*args)

    def __repr__(self) -> str:
        return f"{super().__repr__()} state:{self.state} task_id:{self.task_id}"


def reraise(tp: Any, value: BaseException, tb: TracebackType | None = None) -> NoReturn:
    """Raise ``value`` again with traceback ``tb`` (Celery's helper; ``tp`` is unused there too)."""
    if value.__traceback__ is not tb:
        raise value.with_traceback(tb)
    raise value


def __getattr__(name: str) -> Any:
    """``CeleryCommandException`` subclasses click's exception: built on first use, so that
    ``import celeriac.exceptions`` (and so ``import celeriac``) never loads click."""
    if name == "CeleryCommandException":
        import click

        class CeleryCommandException(click.ClickException):
            """A general command exception which stores an exit code."""

            def __init__(self, message: str, exit_code: int) -> None:
                super().__init__(message=message)
                self.exit_code = exit_code  # type: ignore[misc]  # click: a class default

        CeleryCommandException.__module__ = __name__
        globals()[name] = CeleryCommandException
        return CeleryCommandException
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AlreadyRegistered",
    "AlwaysEagerIgnored",
    "BackendError",
    "BackendGetMetaError",
    "BackendStoreError",
    "BrokerConnectionLost",
    "BrokerRefusedError",
    "CDeprecationWarning",
    "CPendingDeprecationWarning",
    "CeleriacError",
    "CeleriacWarning",
    "CeleryCommandException",  # noqa: F822 - built on first use (module __getattr__)
    "CeleryError",
    "CeleryWarning",
    "ChordError",
    "ContentDisallowed",
    "DecodeError",
    "DuplicateNodenameWarning",
    "DuplicateTaskNameWarning",
    "EncodeError",
    "FixupWarning",
    "Ignore",
    "ImproperlyConfigured",
    "IncompleteStream",
    "InvalidMessage",
    "InvalidTaskError",
    "MaxRetriesExceededError",
    "NotConfigured",
    "NotRegistered",
    "OperationalError",
    "QueueNotFound",
    "Reject",
    "Retry",
    "RetryTaskError",
    "SecurityError",
    "SecurityWarning",
    "SoftTimeLimitExceeded",
    "SystemTerminate",
    "TaskError",
    "TaskPredicate",
    "TaskRevokedError",
    "Terminated",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
    "WorkerShutdown",
    "WorkerTerminate",
    "reraise",
]
