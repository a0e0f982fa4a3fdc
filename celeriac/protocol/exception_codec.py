"""Exceptions as JSON-family result backends store them, and rebuilding them safely.

A failed task's result is ``{"exc_type", "exc_message", "exc_module"}`` (wire-protocol.md §4.2).
Decoding mirrors Celery's ``Backend.exception_to_python`` because a stored result may have been
written by anyone who can reach the backend:

- the class is looked up only in modules that are **already imported** (``sys.modules``), never
  imported on demand, and a dotted ``exc_type`` is walked attribute by attribute;
- an unknown class is synthesized: an ``Exception`` subclass with that name in module
  ``celery.exceptions`` (so ``type(exc).__name__`` still tells the user what happened);
- anything that is not a ``BaseException`` subclass raises ``SecurityError``: otherwise
  ``{"exc_module": "os", "exc_type": "system"}`` would run a shell command.

Celery's own errors travel under Celery's module names (``celery.exceptions``,
``billiard.exceptions``, ``kombu.exceptions``) in both directions, so a Celery client rebuilds
``celery.exceptions.NotRegistered`` from a celeriac worker's record and celeriac rebuilds
``celeriac.exceptions.NotRegistered`` from a Celery worker's.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any, Final

from celeriac import exceptions as _celeriac_exceptions
from celeriac.exceptions import DecodeError, SecurityError
from celeriac.serialization.json_codec import json_dumps
from celeriac.utils.saferepr import saferepr

__all__ = ["decode_exception", "encode_exception"]

#: Module where unknown classes are synthesized, as Celery does.
SYNTHETIC_MODULE: Final = "celery.exceptions"
#: Celery synthesizes here when ``exc_module`` is missing altogether.
_NO_MODULE_SYNTHETIC: Final = "celery.backends.base"

_BILLIARD: Final = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError"})
_KOMBU: Final = frozenset({"ContentDisallowed", "DecodeError", "EncodeError", "OperationalError"})
_CELERY: Final = frozenset({
    "ChordError", "Ignore", "ImproperlyConfigured", "MaxRetriesExceededError", "NotRegistered",
    "QueueNotFound", "Reject", "Retry", "SecurityError", "TaskError", "TaskPredicate",
    "TaskRevokedError", "TimeoutError",
})  # fmt: skip
#: Peer modules whose error names map onto ``celeriac.exceptions``.
_PEER_MODULES: Final = frozenset({"celery.exceptions", "billiard.exceptions", "kombu.exceptions"})
_JSON_SCALARS: Final = (str, int, float, bool, type(None))


def _wire_name(cls: type[BaseException]) -> tuple[str, str]:
    """(module, qualname) to write for ``cls``; celeriac's errors use Celery's locations."""
    name = getattr(cls, "__qualname__", cls.__name__)
    module = cls.__module__
    if module != _celeriac_exceptions.__name__:
        return module, name
    if name == "CeleriacError":
        return "celery.exceptions", "CeleryError"
    if name in _CELERY:
        return "celery.exceptions", name
    if name in _BILLIARD:
        return "billiard.exceptions", name
    if name in _KOMBU:
        return "kombu.exceptions", name
    return module, name


def _json_safe(value: Any) -> Any:
    if type(value) in _JSON_SCALARS:
        return value
    try:
        json_dumps(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return saferepr(value)
    return value


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """Describe ``exc`` as Celery's JSON backends do.

    Arguments that JSON (with kombu markers) cannot carry are replaced by their ``saferepr``, like
    Celery's ``ensure_serializable``, so storing a failure never fails itself.
    """
    module, name = _wire_name(type(exc))
    return {
        "exc_type": name,
        "exc_message": [_json_safe(arg) for arg in exc.args],
        "exc_module": module,
    }


@functools.lru_cache(maxsize=512)
def synthesize_exception_class(name: str, module: str) -> type[Exception]:
    """An ``Exception`` subclass called ``name`` in ``module`` (cached: same name, same class)."""
    return type(name, (Exception,), {"__module__": module})


def _celeriac_class(module: str, exc_type: str) -> Any:
    if module not in _PEER_MODULES:
        return None
    name = "CeleriacError" if exc_type == "CeleryError" else exc_type
    if name in _celeriac_exceptions.__all__:
        return getattr(_celeriac_exceptions, name)
    return None


def _lookup(module: str | None, exc_type: str) -> Any:
    if module is None:
        return synthesize_exception_class(exc_type, _NO_MODULE_SYNTHETIC)
    found = _celeriac_class(module, exc_type)
    if found is not None:
        return found
    try:
        obj: Any = sys.modules[module]
        for part in exc_type.split("."):
            obj = getattr(obj, part)
    except (KeyError, AttributeError):
        return synthesize_exception_class(exc_type, SYNTHETIC_MODULE)
    return obj


def _instantiate(cls: type[BaseException], message: Any, exc_type: str) -> BaseException:
    args = tuple(message) if isinstance(message, list | tuple) else (message,)
    try:
        return cls(*args)
    except Exception:
        # The real class wants other constructor arguments (keyword-only, extra state...). Keep
        # the name and the message rather than losing the failure altogether.
        return synthesize_exception_class(exc_type.rsplit(".", 1)[-1], SYNTHETIC_MODULE)(*args)


def decode_exception(data: Mapping[str, Any]) -> BaseException:
    """Rebuild an exception from ``{"exc_type", "exc_message", "exc_module"}``.

    Raises:
        DecodeError: ``data`` is not a mapping with a string ``exc_type``.
        SecurityError: the named object exists but is not an exception class.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("exc_type"), str):
        raise DecodeError(
            f"a stored exception must be a mapping with a string 'exc_type', got {saferepr(data)}"
        )
    exc_type: str = data["exc_type"]
    module = data.get("exc_module")
    if module is not None and not isinstance(module, str):
        raise DecodeError(f"'exc_module' must be a string or null, got {saferepr(module)}")
    message = data.get("exc_message", "")
    cls = _lookup(module, exc_type)
    if not isinstance(cls, type) or not issubclass(cls, BaseException):
        where = exc_type if module is None else f"{module}.{exc_type}"
        raise SecurityError(
            f"refusing to rebuild stored exception: {where} is not an exception class "
            f"(payload {saferepr(message, 200)}); the result record may have been tampered with"
        )
    return _instantiate(cls, message, exc_type)
