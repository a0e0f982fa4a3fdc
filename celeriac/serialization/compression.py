"""Body compression, applied after serialization and announced in the ``compression`` header.

Celery/kombu quirks we must reproduce (wire-protocol.md §1.10, pitfall §7.2):

- The header carries a MIME type (``application/x-gzip``), never the alias the user typed.
- ``zlib`` and ``gzip`` both mean a **raw zlib stream** under ``application/x-gzip``.
  On decompression we also accept a real gzip stream (``wbits=47`` auto-detects both), so a
  non-kombu producer that took the name literally still works.
- ``content-type``/``content-encoding`` stay those of the serializer.

Optional methods (zstd, brotli) are offered only when their module imports; the lookup error
lists what is available on this machine.
"""

from __future__ import annotations

import bz2
import importlib
import lzma
import zlib
from collections.abc import Callable
from typing import Any, Final

from celeriac.exceptions import DecodeError, ImproperlyConfigured

__all__ = ["available_methods", "compress", "decompress"]

_Transform = Callable[[bytes], bytes]

#: zlib window bits that accept both zlib and gzip headers on decompression.
_ZLIB_OR_GZIP: Final = 32 + zlib.MAX_WBITS


def _zlib_decompress(data: bytes) -> bytes:
    return zlib.decompress(data, _ZLIB_OR_GZIP)


#: MIME type -> (compress, decompress).
_METHODS: dict[str, tuple[_Transform, _Transform]] = {
    "application/x-gzip": (zlib.compress, _zlib_decompress),
    "application/x-bz2": (bz2.compress, bz2.decompress),
    "application/x-lzma": (lzma.compress, lzma.decompress),
}
#: Alias (what users write in ``task_compression``) -> MIME type, as kombu registers them.
_ALIASES: dict[str, str] = {
    "zlib": "application/x-gzip",
    "gzip": "application/x-gzip",
    "bzip2": "application/x-bz2",
    "bzip": "application/x-bz2",
    "lzma": "application/x-lzma",
    "xz": "application/x-lzma",
}


def _import_first(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _register_optional() -> None:
    """Add zstd and brotli when a module providing them is importable."""
    zstd = _import_first("compression.zstd", "backports.zstd")
    if zstd is not None:
        _METHODS["application/zstd"] = (zstd.compress, zstd.decompress)
    else:
        zstandard = _import_first("zstandard")
        if zstandard is not None:  # same frame format, different module API
            _METHODS["application/zstd"] = (
                zstandard.ZstdCompressor().compress,
                lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
            )
    if "application/zstd" in _METHODS:
        _ALIASES.update(zstd="application/zstd", zstandard="application/zstd")
    brotli = _import_first("brotli", "brotlicffi")
    if brotli is not None:
        _METHODS["application/x-brotli"] = (brotli.compress, brotli.decompress)
        _ALIASES["brotli"] = "application/x-brotli"


_register_optional()


def available_methods() -> list[str]:
    """Aliases and MIME types usable on this machine, for error messages and settings checks."""
    return sorted({*_ALIASES, *_METHODS})


def _resolve(method: str) -> str:
    return _ALIASES.get(method.lower(), method.lower())


def compress(data: bytes, method: str) -> tuple[bytes, str]:
    """Compress a serialized body; return it with the MIME type for the ``compression`` header.

    Raises:
        ImproperlyConfigured: unknown method, or its module is not installed here.
    """
    mime = _resolve(method)
    try:
        encoder = _METHODS[mime][0]
    except KeyError:
        raise ImproperlyConfigured(
            f"unknown compression method {method!r}; available: {', '.join(available_methods())}"
        ) from None
    return encoder(data), mime


def decompress(data: bytes, header: str) -> bytes:
    """Undo ``compress`` given the ``compression`` header (a MIME type, or an alias).

    Raises:
        DecodeError: the method is unknown here, or the bytes are not a valid stream of it.
    """
    mime = _resolve(header)
    try:
        decoder = _METHODS[mime][1]
    except KeyError:
        raise DecodeError(
            f"message is compressed with {header!r}, which this worker cannot decompress; "
            f"available: {', '.join(available_methods())}"
        ) from None
    try:
        return decoder(data)
    except Exception as exc:  # zlib.error, OSError, lzma.LZMAError...: all mean a corrupt body
        raise DecodeError(f"corrupt {mime} body ({len(data)} bytes): {exc}") from exc
