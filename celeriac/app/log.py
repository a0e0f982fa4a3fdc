"""``app.log``: Celery's logging set-up object, over ``celeriac.utils.log``.

``celeriac worker`` sets logging up itself (with the ``setup_logging`` and
``after_setup_*`` signals); this object is for code that calls ``app.log.setup(...)`` or
``app.log.get_default_logger()`` outside the worker (scripts, embedded workers).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from celeriac.utils.log import LoggingProxy, log_style, setup_logging

if TYPE_CHECKING:
    from celeriac.app.base import Celery


def _level(loglevel: str | int | None, default: int = logging.WARNING) -> int:
    if loglevel is None:
        return default
    if isinstance(loglevel, int):
        return loglevel
    return int(logging.getLevelName(loglevel.upper()))


class Logging:
    """``app.log``: ``setup``, ``setup_logging_subsystem``, ``redirect_stdouts_to_logger``."""

    #: Whether ``setup_logging_subsystem`` already ran in this process (Celery's flag).
    already_setup = False

    def __init__(self, app: Celery) -> None:
        self.app = app
        conf = app.conf
        self.loglevel = logging.WARNING
        self.format = conf.worker_log_format
        self.task_format = conf.worker_task_log_format
        self.datefmt = conf.worker_log_datefmt
        self.colorize = conf.worker_log_color

    def setup(self, loglevel: str | int | None = None, logfile: str | None = None,
              redirect_stdouts: bool = False, redirect_level: str | int = "WARNING",
              colorize: bool | None = None, hostname: str | None = None) -> bool:
        self.setup_logging_subsystem(loglevel, logfile, colorize=colorize, hostname=hostname)
        if redirect_stdouts:
            self.redirect_stdouts(redirect_level)
        return False

    def setup_logging_subsystem(self, loglevel: str | int | None = None,
                                logfile: str | None = None, format: str | None = None,
                                colorize: bool | None = None, hostname: str | None = None,
                                **kwargs: Any) -> None:
        if Logging.already_setup:
            return
        Logging.already_setup = True
        conf = self.app.conf
        style = log_style(conf)
        if colorize is not None:
            style["color"] = colorize
        setup_logging(_level(loglevel, self.loglevel), logfile, format or self.format,
                      self.task_format, bool(conf.worker_hijack_root_logger), **style)

    def redirect_stdouts(self, loglevel: str | int | None = None,
                         name: str = "celery.redirected") -> None:
        self.redirect_stdouts_to_logger(logging.getLogger(name), loglevel=loglevel)

    def redirect_stdouts_to_logger(self, logger: logging.Logger,
                                   loglevel: str | int | None = None, stdout: bool = True,
                                   stderr: bool = True) -> LoggingProxy:
        proxy = LoggingProxy(logger, _level(loglevel))
        if stdout:
            sys.stdout = proxy  # a file-like logger proxy
        if stderr:
            sys.stderr = proxy
        return proxy

    def supports_color(self, colorize: bool | None = None, logfile: str | None = None) -> bool:
        if colorize is not None:
            return colorize
        return not logfile and sys.stderr.isatty()

    def get_default_logger(self, name: str = "celery", **kwargs: Any) -> logging.Logger:
        return logging.getLogger(name)


__all__ = ["Logging"]
