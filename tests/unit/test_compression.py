"""Body compression: kombu's MIME types, the raw-zlib "gzip", and clear failures."""

from __future__ import annotations

import gzip
import importlib.util
import zlib

import pytest

from celeriac.exceptions import DecodeError, ImproperlyConfigured
from celeriac.serialization.compression import available_methods, compress, decompress

kombu_compression = pytest.importorskip("kombu.compression")

PAYLOAD = b'[[4, 5], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]' * 4


@pytest.mark.parametrize(
    ("method", "mime"),
    [
        ("zlib", "application/x-gzip"),
        ("gzip", "application/x-gzip"),
        ("bzip2", "application/x-bz2"),
        ("lzma", "application/x-lzma"),
        ("xz", "application/x-lzma"),
        ("application/x-bz2", "application/x-bz2"),
    ],
)
def test_methods_announce_kombus_mime_types(method: str, mime: str) -> None:
    data, header = compress(PAYLOAD, method)
    assert header == mime
    assert decompress(data, header) == PAYLOAD
    assert decompress(data, method) == PAYLOAD


def test_gzip_means_a_raw_zlib_stream() -> None:
    data, _ = compress(PAYLOAD, "gzip")
    assert data == zlib.compress(PAYLOAD)


@pytest.mark.parametrize("method", ["zlib", "bzip2", "lzma"])
def test_kombu_can_read_ours_and_we_can_read_kombus(method: str) -> None:
    ours, header = compress(PAYLOAD, method)
    assert kombu_compression.decompress(ours, header) == PAYLOAD
    theirs, their_header = kombu_compression.compress(PAYLOAD, method)
    assert their_header == header
    assert decompress(theirs, their_header) == PAYLOAD


def test_a_real_gzip_stream_is_accepted_too() -> None:
    assert decompress(gzip.compress(PAYLOAD), "application/x-gzip") == PAYLOAD


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def test_zstd_is_offered_only_when_importable() -> None:
    if not any(_importable(name) for name in ("compression.zstd", "backports.zstd", "zstandard")):
        assert "zstd" not in available_methods()
        return
    data, header = compress(PAYLOAD, "zstd")
    assert header == "application/zstd"
    assert decompress(data, header) == PAYLOAD


def test_unknown_method_lists_available_ones() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"unknown compression method 'snappy'.*zlib"):
        compress(PAYLOAD, "snappy")


def test_unknown_header_on_receipt_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="application/x-snappy"):
        decompress(b"...", "application/x-snappy")


def test_corrupt_body_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="corrupt application/x-gzip"):
        decompress(PAYLOAD, "application/x-gzip")
