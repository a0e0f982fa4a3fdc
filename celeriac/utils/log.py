"""Logging: task-aware records, the worker's formats, and secret redaction.

``get_task_logger(name)`` (import path ``celery.utils.log``) returns the logger ``name``,
re-parented under ``celeriac.task`` as Celery does, whose records carry ``task_name`` and
``task_id`` of the running task, so ``worker_task_log_format`` can print them. Every handler
the worker installs scrubs passwords out of URLs in messages: secrets never reach a log file.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from celeriac._state import request_var

BASE_LOGGER_NAME: Final = "celeriac"
TASK_LOGGER_NAME: Final = "celeriac.task"
DEFAULT_LOG_FORMAT: Final = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
DEFAULT_TASK_LOG_FORMAT: Final = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"
)
#: The ``celeriac`` logger (Celery's ``base_logger``/``logger`` are the ``celery`` logger).
base_logger = logger = logging.getLogger(BASE_LOGGER_NAME)
#: The parent of every :func:`get_task_logger` logger (Celery's ``celery.task``).
task_logger = logging.getLogger(TASK_LOGGER_NAME)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<at>@)",
                           re.IGNORECASE)
_COLORS: Final = {"DEBUG": "\033[34m", "INFO": "", "WARNING": "\033[33m",
                  "ERROR": "\033[31m", "CRITICAL": "\033[35m"}


def redact_secrets(text: str) -> str:
    """Mask passwords inside any URL in ``text``."""
    return _URL_PASSWORD.sub(r"\g<head>**\g<at>", text)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``, re-parented under the ``celeriac`` logger as Celery re-parents
    under ``celery``: its records reach the worker's handler even when the root logger is not
    hijacked (``worker_hijack_root_logger=False``)."""
    logger = logging.getLogger(name)
    if logging.root not in (logger, logger.parent) and logger is not base_logger:
        _reparent(logger, base_logger)
    return logger


#: Level names to numbers and numbers to names, as Celery's ``LOG_LEVELS``.
LOG_LEVELS: Final[dict[Any, Any]] = {
    **logging.getLevelNamesMapping(),
    **{number: name for name, number in logging.getLevelNamesMapping().items()
       if name not in ("WARN", "FATAL")},
}
_in_sighandler = [False]


def set_in_sighandler(value: bool) -> None:
    """Mark that a signal handler runs (Celery avoids logging locks then)."""
    _in_sighandler[0] = bool(value)


@contextmanager
def in_sighandler() -> Iterator[None]:
    """A block that runs as a signal handler (:func:`set_in_sighandler` around it)."""
    set_in_sighandler(True)
    try:
        yield
    finally:
        set_in_sighandler(False)


def get_multiprocessing_logger() -> logging.Logger:
    """The :mod:`multiprocessing` logger."""
    import multiprocessing.util

    return multiprocessing.util.get_logger()


def reset_multiprocessing_logger() -> None:
    """Forget the :mod:`multiprocessing` logger, so the next use builds it again."""
    import multiprocessing.util

    if hasattr(multiprocessing.util, "_logger"):  # private: guarded, skipped if it goes away
        multiprocessing.util._logger = None


def mlevel(level: str | int) -> int:
    """A level name (``"info"``) or number as the number (Celery's helper)."""
    if level and not isinstance(level, int):
        return int(logging.getLevelName(str(level).upper()))
    return int(level)


def get_task_logger(name: str) -> logging.Logger:
    """The logger named ``name`` (Celery's helper): its records name the running task.

    As Celery does, the logger keeps its own name, so a logging config keyed on
    ``proj.tasks`` applies to it, and its parent becomes the ``celeriac.task`` logger, so its
    records reach the worker's handler even when the root logger is not hijacked.
    """
    if name in {"celery", "celery.task", "celeriac", TASK_LOGGER_NAME}:
        raise RuntimeError(f"Logger name {name!r} is reserved!")
    logger = logging.getLogger(name)
    _reparent(logger, task_logger)
    if not any(isinstance(f, _TaskMarker) for f in logger.filters):
        logger.addFilter(_TaskMarker())
    return logger


def _reparent(logger: logging.Logger, parent: logging.Logger) -> None:
    """Make ``parent`` the parent of ``logger`` unless already below it, or above it (the
    root, say): that would loop."""
    if not _descends_from(logger, parent) and not _descends_from(parent, logger):
        logger.parent = parent


def _descends_from(logger: logging.Logger, ancestor: logging.Logger) -> bool:
    node: logging.Logger | None = logger
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        if node is ancestor:
            return True
        seen.add(id(node))
        node = node.parent
    return False


class _TaskMarker(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.is_task_record = True
        return True


class TaskContextFilter(logging.Filter):
    """Adds ``task_name``/``task_id`` (``???`` outside a task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = request_var.get()
        if request is not None and request.id:
            record.task_name = request.task or "???"
            record.task_id = request.id
        else:
            record.task_name = getattr(record, "task_name", "???")
            record.task_id = getattr(record, "task_id", "???")
        return True


class ColorFormatter(logging.Formatter):
    """Celery's ``ColorFormatter``: colours a line by its level (when ``use_color``) and
    redacts URL passwords."""

    def __init__(self, fmt: str | None = None, use_color: bool = True,
                 datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self.use_color = use_color

    def format(self, record: logging.LogRecord) -> str:
        return self.colorize(record, redact_secrets(super().format(record)))

    def colorize(self, record: logging.LogRecord, text: str) -> str:
        color = _COLORS.get(record.levelname) if self.use_color else None
        return f"{color}{text}\033[0m" if color else text


class WorkerFormatter(ColorFormatter):
    """Uses the task format for task-logger records, redacts URL passwords, colours a TTY."""

    def __init__(self, fmt: str, task_fmt: str, color: bool, datefmt: str | None = None,
                 task_datefmt: str | None = None) -> None:
        super().__init__(fmt, color, datefmt)
        self._task = logging.Formatter(task_fmt, task_datefmt)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "is_task_record", False) and getattr(record, "task_id", "???") != "???":
            return self.colorize(record, redact_secrets(self._task.format(record)))
        return super().format(record)


def log_style(conf: Any) -> dict[str, Any]:
    """``setup_logging``'s keyword arguments from ``worker_log_color``, ``worker_log_datefmt``
    and ``worker_task_log_datefmt`` (worker and beat share them, as in Celery)."""
    return {"color": conf.worker_log_color, "datefmt": conf.worker_log_datefmt,
            "task_datefmt": conf.worker_task_log_datefmt}


def setup_logging(
    loglevel: str | int = "WARNING",
    logfile: str | None = None,
    fmt: str = DEFAULT_LOG_FORMAT,
    task_fmt: str = DEFAULT_TASK_LOG_FORMAT,
    hijack_root: bool = True,
    *,
    color: bool | None = None,
    datefmt: str | None = None,
    task_datefmt: str | None = None,
) -> logging.Handler:
    """Install the worker's handler on the root logger (or only ``celeriac`` when the user
    asked us not to hijack theirs) and return it.

    ``color`` (``worker_log_color``) None means "when writing to a terminal";
    ``datefmt``/``task_datefmt`` are ``worker_log_datefmt``/``worker_task_log_datefmt``.
    """
    level = logging.getLevelName(loglevel.upper()) if isinstance(loglevel, str) else loglevel
    stream: Any = open(logfile, "a", encoding="utf-8") if logfile else sys.stderr  # noqa: SIM115
    handler = logging.StreamHandler(stream)
    if color is None:
        color = not logfile and hasattr(stream, "isatty") and stream.isatty()
    handler.setFormatter(WorkerFormatter(fmt, task_fmt, color, datefmt, task_datefmt))
    handler.addFilter(TaskContextFilter())
    target = logging.getLogger() if hijack_root else logging.getLogger("celeriac")
    if hijack_root:
        for existing in list(target.handlers):
            target.removeHandler(existing)
    target.addHandler(handler)
    target.setLevel(level)
    return handler


_received_logger = logging.getLogger("celeriac.worker.strategy")


def log_received(request: Any) -> None:
    """Celery's ``Task <name>[<id>] received`` line (INFO) for a request the worker accepted;
    the fields also go in ``extra["data"]``, as Celery passes them, for custom handlers."""
    if not _received_logger.isEnabledFor(logging.INFO):
        return
    headers = request.headers
    context = {"id": request.id, "name": request.name, "args": headers.get("argsrepr"),
               "kwargs": headers.get("kwargsrepr"), "eta": request.eta}
    _received_logger.info("Task %(name)s[%(id)s] received", context, extra={"data": context})


class LoggingProxy:
    """A file-like object sending writes to a logger (``worker_redirect_stdouts``)."""

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING) -> None:
        self.logger = logger
        self.level = level
        self._buffer = ""

    def write(self, data: str) -> int:
        self._buffer += data
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, line)
        return len(data)

    def flush(self) -> None:
        if self._buffer.strip():
            self.logger.log(self.level, self._buffer)
        self._buffer = ""

    def isatty(self) -> bool:
        return False
