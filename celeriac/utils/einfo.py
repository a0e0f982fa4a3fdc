"""``ExceptionInfo``: the ``einfo`` that task signals and hooks pass, as Celery's.

It is the formatted traceback as a ``str`` (what celeriac always passed, so code that prints
or stores it keeps working) that also has the attributes of Celery's
``billiard.einfo.ExceptionInfo`` that receivers read: ``traceback``, ``exception``, ``type``
and ``tb``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType


class ExceptionInfo(str):
    """A formatted traceback that also carries the exception it describes."""

    exception: BaseException
    type: type[BaseException]
    tb: TracebackType | None

    def __new__(cls, formatted: str, exception: BaseException) -> ExceptionInfo:
        info = super().__new__(cls, formatted)
        info.exception = exception
        info.type = type(exception)
        info.tb = exception.__traceback__
        return info

    @property
    def traceback(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        """Pickles as the plain text: a traceback object cannot cross a process."""
        return str, (str(self),)


__all__ = ["ExceptionInfo"]
