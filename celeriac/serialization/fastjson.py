"""Plain JSON parsing on the hot path: ``orjson`` when installed, the standard library else.

orjson parses envelopes and bodies two to five times faster. It is stricter than ``json``
(integers beyond 64 bits, ``NaN``, lone surrogates), so any document it refuses is parsed
again by the standard library: results never differ, only speed does. Encoding stays with
the standard library for task bodies, so their bytes match Celery's exactly; envelopes,
which peers only ever parse, are encoded compactly by ``dumps_plain``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_stdlib_loads: Callable[..., Any] = json.loads

_stdlib_dumps = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode


def _dumps_stdlib(obj: Any) -> bytes:
    return _stdlib_dumps(obj).encode("ascii")


try:
    import orjson
except ImportError:  # pragma: no cover - exercised when the extra is absent
    loads_plain: Callable[[bytes | bytearray | memoryview | str], Any] = _stdlib_loads
    dumps_plain: Callable[[Any], bytes] = _dumps_stdlib
else:
    _orjson_loads = orjson.loads
    _orjson_error = orjson.JSONDecodeError

    def loads_plain(data: bytes | bytearray | memoryview | str) -> Any:
        """Parse ``data`` (no kombu type markers handled here)."""
        try:
            return _orjson_loads(data)
        except _orjson_error:
            return _stdlib_loads(bytes(data) if isinstance(data, memoryview) else data)

    _orjson_dumps = orjson.dumps

    def dumps_plain(obj: Any) -> bytes:
        """Compact UTF-8 JSON of plain data (envelopes, not user payloads with markers).

        Falls back to the standard library for what orjson refuses (non-string keys,
        integers beyond 64 bits).
        """
        try:
            return _orjson_dumps(obj)
        except TypeError:
            return _dumps_stdlib(obj)


__all__ = ["dumps_plain", "loads_plain"]
