"""JSON with kombu's type markers: the default serializer for task bodies and results.

kombu >= 5.3 writes values JSON has no type for as ``{"__type__": T, "__value__": V}``
(wire-protocol.md §1.10): ``datetime``, ``date``, ``time`` (isoformat), ``decimal`` (``str``),
``uuid`` (``{"hex": ...}``), ``bytes`` (UTF-8 text) and ``base64`` (bytes that are not UTF-8).
We write the same markers and read them back only when an object has exactly those two keys and a
known type (pitfall §7.9): anything else, including an unknown marker, stays a plain dict, because
a kombu 5.2 peer may send such dicts as ordinary data.

Speed matters here (every task body and result passes through it), so:

- encoding uses one pre-built ``json.JSONEncoder`` whose C accelerator runs in one shot; the
  Python ``default`` hook is called only for the rare non-JSON value;
- decoding skips the Python ``object_hook`` entirely unless the text contains ``"__type__"``,
  so ordinary bodies are parsed by the C scanner alone.

The output keeps Python's default separators and ``ensure_ascii`` so the bytes equal what a
Celery client publishes for the same value (handy for golden tests and content hashing).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final

from celeriac.serialization.fastjson import loads_plain

__all__ = ["JSON_CODEC", "JsonCodec", "json_dumps", "json_loads"]

_MARKER_KEYS: Final = frozenset(("__type__", "__value__"))


def _marker(kind: str, value: Any) -> dict[str, Any]:
    return {"__type__": kind, "__value__": value}


def _encode_bytes(value: bytes) -> dict[str, Any]:
    try:
        return _marker("bytes", value.decode("utf-8"))
    except UnicodeDecodeError:
        return _marker("base64", base64.b64encode(value).decode("ascii"))


def _default(obj: Any) -> Any:
    """Encode the values JSON lacks, in kombu's order (datetime before its base class date)."""
    reducer = getattr(obj, "__json__", None)
    if reducer is not None:
        return reducer()
    if isinstance(obj, datetime):
        return _marker("datetime", obj.isoformat())
    if isinstance(obj, date):
        return _marker("date", obj.isoformat())
    if isinstance(obj, time):
        return _marker("time", obj.isoformat())
    if isinstance(obj, Decimal):
        return _marker("decimal", str(obj))
    if isinstance(obj, uuid.UUID):
        return _marker("uuid", {"hex": obj.hex})
    if isinstance(obj, bytes | bytearray | memoryview):
        return _encode_bytes(bytes(obj))
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _decode_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(**value) if isinstance(value, dict) else uuid.UUID(str(value))


def _decode_base64(value: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64 in a 'base64' JSON marker: {exc}") from exc


_DECODERS: Final[dict[str, Callable[[Any], Any]]] = {
    "datetime": datetime.fromisoformat,
    "date": lambda value: datetime.fromisoformat(value).date(),
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": _decode_uuid,
    "bytes": lambda value: value.encode("utf-8"),
    "base64": _decode_base64,
}


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and obj.keys() == _MARKER_KEYS:
        decoder = _DECODERS.get(obj["__type__"])
        if decoder is not None:
            return decoder(obj["__value__"])
    return obj


_ENCODER: Final = json.JSONEncoder(default=_default)
_PLAIN_DECODER: Final = json.JSONDecoder()
_MARKER_DECODER: Final = json.JSONDecoder(object_hook=_object_hook)


def json_dumps(obj: Any) -> bytes:
    """Serialize ``obj`` to UTF-8 JSON bytes, with kombu type markers.

    Raises:
        TypeError: a value has no JSON form and no marker (e.g. a set or an arbitrary object).
        ValueError: a circular reference, or NaN handling issues from the stdlib encoder.
    """
    return _ENCODER.encode(obj).encode("utf-8")


def json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text or UTF-8 bytes, turning exact two-key markers back into values.

    Raises:
        ValueError: malformed JSON, invalid UTF-8, or a marker whose value is malformed
            (``json.JSONDecodeError`` and ``UnicodeDecodeError`` are ``ValueError`` subclasses).
    """
    if isinstance(data, str):
        if "__type__" in data:
            return _MARKER_DECODER.decode(data)
        return loads_plain(data)
    raw = bytes(data)
    if b"__type__" in raw:
        return _MARKER_DECODER.decode(raw.decode("utf-8"))
    return loads_plain(raw)


class JsonCodec:
    """The ``json`` serializer as the registry sees it (content type as in Celery)."""

    name: str = "json"
    content_type: str = "application/json"
    content_encoding: str = "utf-8"

    def dumps(self, obj: Any) -> bytes:
        return _ENCODER.encode(obj).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json_loads(data)


JSON_CODEC: Final = JsonCodec()
