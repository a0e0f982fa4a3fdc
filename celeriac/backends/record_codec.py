"""How a result record becomes the bytes a key-value store holds, and back.

Celery's key-value stores hold ``dumps(record, result_serializer)`` as one opaque value, with
no content type beside it; with ``result_compression`` (Celery 5.7) the value is
``MAGIC + content type + NUL + compressed bytes``. celeriac writes exactly that, so Celery
peers configured alike read celeriac's records and the other way round.

Reading does not trust the reader's own ``result_serializer``: the serializer is recognised
from the record's first bytes (JSON and YAML are text starting with ``{`` or a key, pickle
starts with ``0x80`` and its protocol number, msgpack's map marker is ``0x80``-``0x8f``,
``0xde`` or ``0xdf``), so records stay readable after the setting changes, and a mixed
fleet's records all decode. Every content type still has to be accepted
(``result_accept_content``, else ``accept_content``) before its bytes are parsed: pickle
runs code when loaded and is never read unless the user listed it.

Plain JSON stays the fast path: no sniffing beyond one byte, no registry lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from celeriac.exceptions import DecodeError, ImproperlyConfigured
from celeriac.serialization import registry
from celeriac.serialization.compression import compress, decompress
from celeriac.serialization.json_codec import json_dumps, json_loads

#: Celery 5.7's marker in front of a compressed result (``celery.backends.base``).
COMPRESSED_MAGIC: Final = b"\x00celery-compressed\x00"

JSON: Final = "application/json"
_PICKLE: Final = "application/x-python-serialize"
_MSGPACK: Final = "application/x-msgpack"
_YAML: Final = "application/x-yaml"
_PICKLE_PROTOCOLS: Final = frozenset(range(2, 6))


def content_type_of(data: bytes) -> str:
    """The serializer that wrote an (uncompressed) record, from its first bytes."""
    first = data[:1]
    if first == b"{" or not first:
        return JSON
    byte = first[0]
    if byte == 0x80 and len(data) > 1 and data[1] in _PICKLE_PROTOCOLS:
        return _PICKLE
    if 0x80 <= byte <= 0x8F or byte in (0xDE, 0xDF):
        return _MSGPACK
    if first.isspace():
        return JSON if data.lstrip()[:1] == b"{" else _YAML
    return _YAML


class RecordCodec:
    """Encodes records with ``result_serializer``/``result_compression``; decodes any accepted.

    Args:
        serializer: ``result_serializer`` (a name or content type the registry knows).
        compression: ``result_compression`` (``'gzip'``, ``'bzip2'``...), or None.
        accept: ``result_accept_content`` if set, else ``accept_content``. The serializer's
            own type is added unless it is pickle, which must be listed explicitly.

    Raises:
        ImproperlyConfigured: unknown serializer or compression method, a missing package,
            or pickle results without pickle in the accept list.
    """

    def __init__(self, serializer: str = "json", compression: str | None = None,
                 accept: Iterable[str] = ("json",)) -> None:
        codec = registry.get_codec(serializer)
        allowed = set(registry.normalize_accept(accept))
        if codec.content_type == _PICKLE and _PICKLE not in allowed:
            raise ImproperlyConfigured(
                "result_serializer='pickle' needs 'pickle' in result_accept_content (or "
                "accept_content): loading a pickled result runs code, so it is opt-in"
            )
        allowed.add(codec.content_type)
        self.serializer = codec.name
        self.compression = compression or None
        if self.compression:
            compress(b"", self.compression)  # unknown method: fail now, not at the first store
        self.accept = frozenset(allowed)
        #: Records are plain JSON objects: the store may inspect them (e.g. in a Lua script).
        self.plain_json = codec.content_type == JSON and not self.compression

    def dumps(self, record: dict[str, Any]) -> bytes:
        if self.plain_json:
            return json_dumps(record)
        _, _, data = registry.dumps(record, self.serializer)
        if self.compression:
            body, mime = compress(data, self.compression)
            data = COMPRESSED_MAGIC + mime.encode() + b"\0" + body
        return data

    def loads(self, data: bytes) -> Any:
        """Decode a stored record, whatever accepted serializer and compression wrote it.

        Raises:
            ContentDisallowed: the record's serializer is not accepted (bytes not parsed).
            DecodeError: corrupt compression or a malformed payload.
        """
        if data[:1] == b"{" and JSON in self.accept:
            return json_loads(data)
        if data.startswith(COMPRESSED_MAGIC):
            mime, _, data = data[len(COMPRESSED_MAGIC):].partition(b"\0")
            data = decompress(data, mime.decode("ascii", "replace"))
        content_type = content_type_of(data)
        if content_type == JSON and JSON in self.accept:
            return json_loads(data)
        if content_type == _YAML and _YAML not in self.accept:
            # YAML is only the fallback guess for bytes no other accepted serializer starts
            # with: such a record is corrupt (or foreign), not a refused content type.
            raise DecodeError(f"not a record any accepted serializer wrote ({data[:20]!r})")
        return registry.loads(data, content_type, "utf-8", self.accept)


__all__ = ["COMPRESSED_MAGIC", "RecordCodec", "content_type_of"]
