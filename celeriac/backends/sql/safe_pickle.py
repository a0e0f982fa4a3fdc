"""Reading a pickle that may only hold plain values, for rows Celery wrote with PickleType.

Celery before 5.7 kept ``celery_taskmeta.result`` in a ``PickleType`` column whatever the
``result_serializer``; Celery 5.7 still falls back to ``pickle.loads`` for such rows. Loading
an arbitrary pickle runs code, so unless the user accepts pickle (``result_accept_content``
or ``accept_content``), celeriac reads these bytes with an unpickler that can build only
plain builtin values; any other object in the stream is refused with ``ContentDisallowed``,
before it is built.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Final

from celeriac.exceptions import ContentDisallowed

#: (module, name) pairs a plain-value pickle may reference: containers, scalars and dates.
_ALLOWED: Final = frozenset({
    ("builtins", name) for name in (
        "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int",
        "float", "bool", "complex")
} | {("datetime", name) for name in ("datetime", "date", "time", "timedelta", "timezone")})

#: Pickle protocols 2 to 5 start with the PROTO opcode and their number.
_PROTOCOLS: Final = frozenset(range(2, 6))


def looks_pickled(data: bytes) -> bool:
    """Whether ``data`` begins like every pickle Celery, kombu or SQLAlchemy writes."""
    return len(data) > 1 and data[0] == 0x80 and data[1] in _PROTOCOLS


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise ContentDisallowed(
            f"refused to unpickle {module}.{name}: a pickled result is read only as plain "
            "values (dict, list, str, numbers, dates) unless 'pickle' is in "
            "result_accept_content (or accept_content)")

    def persistent_load(self, pid: Any) -> Any:
        raise ContentDisallowed("refused to unpickle a persistent reference")


def loads_plain(data: bytes) -> Any:
    """Unpickle ``data`` if it holds only plain builtin values.

    Raises:
        ContentDisallowed: the pickle references any other class or function (never built).
    """
    return _PlainUnpickler(io.BytesIO(data)).load()


__all__ = ["loads_plain", "looks_pickled"]
