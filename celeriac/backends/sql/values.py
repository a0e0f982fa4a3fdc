"""How the SQL store encodes one column value, and reads back what Celery or celeriac wrote.

Celery 5.7 keeps ``result``, ``children``, ``args``, ``kwargs`` and a group's ``result`` as
``encode(value)``: the value in ``result_serializer``, behind Celery's compression marker when
``result_compression`` is set (``record_codec.COMPRESSED_MAGIC``; Celery's database backend
itself never compresses, but it decompresses any marked value it reads). Celery reads with
its own serializer; celeriac first tries the reader's serializer too, then the serializer the
bytes look like (``record_codec.content_type_of``), if accepted, so a changed setting or a
mixed fleet leaves rows readable. A pickle that is not accepted is read by ``safe_pickle``
(plain values only): older Celery wrote every result so, through ``PickleType``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celeriac.backends.record_codec import COMPRESSED_MAGIC, RecordCodec, content_type_of
from celeriac.backends.sql.safe_pickle import loads_plain, looks_pickled
from celeriac.exceptions import DecodeError
from celeriac.serialization import registry
from celeriac.serialization.compression import decompress

_PICKLE = "application/x-python-serialize"


class ValueCodec(RecordCodec):
    """``RecordCodec`` writing single values; reads them as the module docstring says."""

    def __init__(self, serializer: str = "json", compression: str | None = None,
                 accept: Iterable[str] = ("json",)) -> None:
        super().__init__(serializer, compression, accept)
        self.content_type = registry.get_codec(self.serializer).content_type

    def dumps(self, value: Any) -> bytes:
        """Any value, not only a record: ``result``, ``children``, ``args``..."""
        return super().dumps(value)

    def loads(self, data: bytes | memoryview | None) -> Any:
        """Decode a stored value (None stays None).

        Raises:
            ContentDisallowed: a pickle holding more than plain values while pickle is not
                accepted (never built).
            DecodeError: bytes no accepted serializer reads (others are never tried).
        """
        if data is None:
            return None
        data = bytes(data)
        if data.startswith(COMPRESSED_MAGIC):
            mime, _, body = data[len(COMPRESSED_MAGIC):].partition(b"\0")
            data = decompress(body, mime.decode("ascii", "replace"))
        if looks_pickled(data) and _PICKLE not in self.accept:
            return loads_plain(data)
        try:
            return registry.loads(data, self.content_type, "utf-8", self.accept)
        except (DecodeError, ValueError) as exc:
            first: Exception = exc
        # Written with another serializer: the one the bytes look like, then the others
        # accepted (a msgpack array or number has no telling first byte).
        sniffed = content_type_of(data)
        others = sorted(self.accept - {self.content_type, sniffed, _PICKLE})
        for content_type in (sniffed, *others):
            if content_type == self.content_type or content_type not in self.accept:
                continue
            try:
                return registry.loads(data, content_type, "utf-8", self.accept)
            except (DecodeError, ValueError):
                continue
        raise DecodeError(
            f"a stored value no accepted serializer reads ({data[:20]!r}...): {first}"
        ) from first


__all__ = ["ValueCodec"]
