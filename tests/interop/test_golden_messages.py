"""celeriac's task messages against golden messages captured from real Celery 5.7 / kombu 5.7.

The fixtures in ``fixtures/`` were written by ``fixtures/capture_celery.py`` (a Celery client
publishing to kombu's memory transport). For each one we rebuild the message with
``build_v2``, feeding it the values that were random or clock-dependent at capture time (ids,
origin, reply_to, eta/expires), and require the *same* headers, properties and body bytes. We
also decode every captured message with celeriac's worker-side functions.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import pathlib
import uuid
from typing import Any

import pytest

from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import (
    TaskBody,
    build_v2,
    decode_body,
    normalize_v1,
    parse_iso_timestamp,
)
from celeriac.serialization import registry
from celeriac.serialization.compression import decompress

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
JSON_ONLY = frozenset({"application/json"})
ALL_TYPES = registry.normalize_accept(["json", "msgpack", "yaml"])
#: Envelope bookkeeping that kombu's virtual transport adds; not part of the task message.
TRANSPORT_PROPERTIES = ("body_encoding", "delivery_info", "delivery_tag")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    data["body"] = base64.b64decode(data["body_b64"])
    return data


def as_message(fixture: dict[str, Any]) -> TaskMessage:
    return TaskMessage(
        headers=dict(fixture["headers"]),
        properties=dict(fixture["properties"]),
        body=fixture["body"],
        content_type=fixture["content_type"],
        content_encoding=fixture["content_encoding"],
    )


def celery_payload(fixture: dict[str, Any]) -> Any:
    body = fixture["body"]
    if "compression" in fixture["headers"]:
        body = decompress(body, fixture["headers"]["compression"])
    return registry.loads(body, fixture["content_type"], fixture["content_encoding"], ALL_TYPES)


def task_properties(fixture: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fixture["properties"].items() if k not in TRANSPORT_PROPERTIES}


def rebuild(fixture: dict[str, Any], args: Any, kwargs: Any, **options: Any) -> TaskMessage:
    """build_v2 with the fixture's volatile values; ``options`` are the case's own."""
    headers = fixture["headers"]
    embed = celery_payload(fixture)[2]
    return build_v2(
        task_name=headers["task"],
        task_id=headers["id"],
        args=args,
        kwargs=kwargs,
        origin=headers["origin"],
        reply_to=fixture["properties"]["reply_to"],
        callbacks=embed["callbacks"],
        errbacks=embed["errbacks"],
        chain=embed["chain"],
        chord=embed["chord"],
        **options,
    )


def assert_same_message(ours: TaskMessage, fixture: dict[str, Any]) -> None:
    assert ours.headers == fixture["headers"]
    assert ours.properties == task_properties(fixture)
    assert ours.content_type == fixture["content_type"]
    assert ours.content_encoding == fixture["content_encoding"]
    assert ours.body == fixture["body"]


def test_delay_2_3_matches_celery_byte_for_byte() -> None:
    fixture = load("delay_2_3")
    assert_same_message(rebuild(fixture, (2, 3), {}), fixture)


def test_apply_async_options_match_celery() -> None:
    fixture = load("apply_options")
    headers = fixture["headers"]
    eta = dt.datetime.fromisoformat(headers["eta"])
    expires = dt.datetime.fromisoformat(headers["expires"])
    # Celery derived expiration from expires=120 s; pin our clock 120 s before (plus slack for
    # float rounding, as int() truncates).
    now = expires.timestamp() - 120.0005
    ours = rebuild(
        fixture,
        (1, 2),
        {},
        eta=eta,
        expires=expires,
        priority=5,
        timelimit=(60, 50),
        shadow="add-shadow",
        headers={"x-custom": "hello"},
        now=now,
    )
    assert fixture["properties"]["expiration"] == "120000"
    assert_same_message(ours, fixture)


def test_explicit_utc_eta_is_sent_with_offset() -> None:
    fixture = load("explicit_eta")
    eta = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert fixture["headers"]["eta"] == "2030-01-02T03:04:05+00:00"
    assert_same_message(rebuild(fixture, (1, 2), {}, eta=eta), fixture)


def test_link_and_link_error_embed_matches_celery() -> None:
    fixture = load("link_link_error")
    ours = rebuild(fixture, (1, 2), {})
    assert_same_message(ours, fixture)
    body = decode_body(ours, JSON_ONLY)
    assert body.callbacks is not None and body.callbacks[0]["task"] == "proj.mul"
    assert body.errbacks is not None and body.errbacks[0]["task"] == "proj.on_error"


def test_chain_embed_matches_celery() -> None:
    fixture = load("chain_3")
    assert_same_message(rebuild(fixture, (1, 2), {}), fixture)


@pytest.mark.parametrize("serializer", ["msgpack", "yaml"])
def test_other_serializers_match_celery_bytes(serializer: str) -> None:
    fixture = load(serializer)
    assert_same_message(rebuild(fixture, (4, 5), {}, serializer=serializer), fixture)


def test_zlib_compression_matches_celery() -> None:
    fixture = load("zlib")
    assert fixture["headers"]["compression"] == "application/x-gzip"
    assert_same_message(rebuild(fixture, (4, 5), {}, compression="zlib"), fixture)


MARKER_ARGS = (
    dt.datetime(2024, 5, 6, 7, 8, 9),
    decimal.Decimal("1.10"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"raw",
    b"\xff",
    dt.date(2024, 5, 6),
    dt.time(7, 8, 9, 10),
)


def test_json_type_markers_match_kombu() -> None:
    fixture = load("json_markers")
    assert_same_message(rebuild(fixture, MARKER_ARGS, {}), fixture)


def test_json_type_markers_decode_to_python_values() -> None:
    body = decode_body(as_message(load("json_markers")), JSON_ONLY)
    assert body.args == list(MARKER_ARGS)


def test_truncated_reprs_match_celery() -> None:
    fixture = load("long_args")
    args = (list(range(600)), [[[[1]]]], "it's " * 10)
    assert_same_message(rebuild(fixture, args, {"y": {"k": "v" * 2000}}), fixture)


V2_CASES = [
    ("delay_2_3", [2, 3]),
    ("apply_options", [1, 2]),
    ("link_link_error", [1, 2]),
    ("chain_3", [1, 2]),
    ("msgpack", [4, 5]),
    ("yaml", [4, 5]),
    ("zlib", [4, 5]),
]


@pytest.mark.parametrize(("name", "args"), V2_CASES)
def test_celery_messages_decode(name: str, args: list[int]) -> None:
    fixture = load(name)
    body = decode_body(as_message(fixture), ALL_TYPES)
    embed = celery_payload(fixture)[2]
    expected = TaskBody(args, {}, embed["callbacks"], embed["errbacks"], embed["chain"], None)
    assert body == expected


def test_celery_messages_are_v2_so_normalize_returns_them_unchanged() -> None:
    message = as_message(load("delay_2_3"))
    assert normalize_v1(message, JSON_ONLY) is message


def test_protocol1_message_decodes() -> None:
    fixture = load("protocol1")
    assert fixture["headers"] == {}
    body = decode_body(as_message(fixture), JSON_ONLY)
    assert body.args == [2, 3]
    assert body.kwargs == {}
    assert body.callbacks is not None and body.callbacks[0]["task"] == "proj.mul"
    assert body.chain is None


def test_protocol1_message_normalizes_to_v2_headers_and_body() -> None:
    fixture = load("protocol1")
    v1 = celery_payload(fixture)
    message = normalize_v1(as_message(fixture), JSON_ONLY)
    headers = message.headers
    assert headers["task"] == "proj.add"
    assert headers["id"] == v1["id"] == message.properties["correlation_id"]
    assert headers["root_id"] == v1["id"]
    assert headers["eta"] == v1["eta"]
    assert parse_iso_timestamp(headers["eta"]) == dt.datetime.fromisoformat(v1["eta"]).timestamp()
    assert headers["retries"] == 0
    assert headers["timelimit"] == [None, None]
    assert headers["group"] is None
    assert headers["argsrepr"] == "[2, 3]"
    body = decode_body(message, JSON_ONLY)
    assert body == TaskBody([2, 3], {}, v1["callbacks"], None, None, None)
