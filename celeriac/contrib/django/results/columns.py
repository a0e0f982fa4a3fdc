"""How a value becomes the ``content_type`` / ``content_encoding`` / text columns of
``django-celery-results``' tables, and back.

That package stores the result, the ``meta`` mapping and (with ``result_extended``) the task's
arguments as text, each serialized with ``result_serializer``: text serializers (JSON, YAML)
as they are with ``content_encoding='utf-8'``, binary ones (pickle, msgpack) base64-encoded
with ``content_encoding='binary'``. celeriac writes the same. With ``result_compression`` a
value is Celery 5.7's ``MAGIC + content type + NUL + compressed bytes``, base64-encoded as
binary: Celery 5.7 readers decompress it too.

Reading trusts the row's ``content_type`` (a column, unlike the key-value stores' sniffing),
but refuses every content type outside ``result_accept_content`` (else ``accept_content``)
before parsing a byte: pickle runs code when loaded.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from celeriac.backends.record_codec import COMPRESSED_MAGIC, RecordCodec
from celeriac.config.frozen import BackendOptions
from celeriac.serialization import registry
from celeriac.serialization.compression import decompress

BINARY: Final = "binary"


class ColumnCodec:
    """Encodes values into text columns with the store's serializer; decodes any accepted.

    Raises (when built): ``ImproperlyConfigured`` as ``RecordCodec`` does (unknown serializer
    or compression, pickle without opting in).
    """

    def __init__(self, options: BackendOptions) -> None:
        self._codec = RecordCodec(options.serializer, options.compression, options.accept)
        codec = registry.get_codec(options.serializer)
        self.content_type = codec.content_type
        self.content_encoding = (BINARY if options.compression or codec.content_encoding == BINARY
                                 else "utf-8")

    def encode(self, value: Any) -> str:
        """``value`` as the text of a column, in this store's ``content_type``/encoding."""
        data = self._codec.dumps(value)
        if self.content_encoding == BINARY:
            return base64.b64encode(data).decode("ascii")
        return data.decode("utf-8")

    def decode(self, content_type: str, content_encoding: str, text: str | None) -> Any:
        """The value a column holds (None for an empty one, as ``django-celery-results``).

        Raises:
            ContentDisallowed: ``content_type`` is not accepted (the text is not parsed).
            DecodeError: corrupt base64, compression or payload.
        """
        if not text:
            return None
        data = base64.b64decode(text) if content_encoding == BINARY else text.encode("utf-8")
        if data.startswith(COMPRESSED_MAGIC):
            mime, _, data = data[len(COMPRESSED_MAGIC):].partition(b"\0")
            data = decompress(data, mime.decode("ascii", "replace"))
        return registry.loads(data, content_type, content_encoding, self._codec.accept)


__all__ = ["ColumnCodec"]
