"""Stored result records are byte-compatible with Celery 5.7's for every result_serializer and
result_compression: Celery decodes what celeriac stores and the other way round."""

from __future__ import annotations

from typing import Any

import pytest
from celery.backends.base import compress_payload, decompress_payload
from kombu.serialization import dumps as kombu_dumps
from kombu.serialization import loads as kombu_loads
from kombu.serialization import prepare_accept_content

from celeriac.backends.record_codec import RecordCodec
from celeriac.serialization.registry import BUILTIN_CONTENT_TYPES

RECORD: dict[str, Any] = {"status": "SUCCESS", "result": {"n": [1, 2.5, "x", None]},
                          "traceback": None, "children": [], "date_done": "2026-01-01T00:00:00",
                          "task_id": "t"}
CASES = [("json", None), ("msgpack", None), ("yaml", None), ("pickle", None),
         ("json", "gzip"), ("msgpack", "bzip2"), ("yaml", "zlib"), ("pickle", "lzma")]
ACCEPT = ("json", "msgpack", "yaml", "pickle")


@pytest.mark.parametrize(("serializer", "compression"), CASES)
def test_celery_reads_what_celeriac_stores(serializer: str, compression: str | None) -> None:
    stored = RecordCodec(serializer, compression, ACCEPT).dumps(RECORD)
    content_type = BUILTIN_CONTENT_TYPES[serializer]
    accept = prepare_accept_content(ACCEPT)  # type: ignore[no-untyped-call]
    payload = decompress_payload(stored)
    decoded = kombu_loads(payload, content_type, "utf-8", accept=accept)  # type: ignore[no-untyped-call]
    assert decoded == RECORD


@pytest.mark.parametrize(("serializer", "compression"), CASES)
def test_celeriac_reads_what_celery_stores(serializer: str, compression: str | None) -> None:
    _, _, payload = kombu_dumps(RECORD, serializer=serializer)  # type: ignore[no-untyped-call]
    stored = payload.encode() if isinstance(payload, str) else payload  # as a store returns it
    if compression:
        stored = compress_payload(stored, compression)
    assert RecordCodec("json", None, ACCEPT).loads(stored) == RECORD
