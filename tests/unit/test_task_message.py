"""build_v2, decode_body, normalize_v1 and the eta/expires parsers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac.exceptions import ContentDisallowed, DecodeError, InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import (
    TaskBody,
    build_v2,
    decode_body,
    normalize_v1,
    parse_eta,
    parse_iso_timestamp,
)
from celeriac.serialization import registry
from celeriac.serialization.compression import compress

JSON = frozenset({"application/json"})
TASK_ID = "8cab0d93-52d8-4cb2-b00b-7d2f2812afd4"
HEADER_KEYS = [
    "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
    "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
    "replaced_task_nesting", "stamped_headers", "stamps",
]  # fmt: skip


def build(**options: Any) -> TaskMessage:
    defaults: dict[str, Any] = {
        "task_name": "proj.add",
        "task_id": TASK_ID,
        "args": (2, 3),
        "kwargs": {},
        "origin": "gen1@host",
    }
    return build_v2(**(defaults | options))


def test_delay_message_has_celerys_headers_properties_and_body() -> None:
    message = build(reply_to="57546558-32be-3c0c-982f-d8b6c28d5c2a")
    assert list(message.headers) == HEADER_KEYS
    assert message.headers == {
        "lang": "py", "task": "proj.add", "id": TASK_ID, "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": TASK_ID, "parent_id": None, "argsrepr": "(2, 3)",
        "kwargsrepr": "{}", "origin": "gen1@host", "ignore_result": False,
        "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }  # fmt: skip
    assert message.properties == {
        "correlation_id": TASK_ID,
        "reply_to": "57546558-32be-3c0c-982f-d8b6c28d5c2a",
        "delivery_mode": 2,
        "priority": 0,
    }
    assert (message.content_type, message.content_encoding) == ("application/json", "utf-8")
    assert message.body == (
        b'[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'
    )


def test_options_change_the_documented_fields() -> None:
    eta = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    expires = eta + dt.timedelta(seconds=90)
    message = build(
        eta=eta,
        expires=expires,
        now=expires.timestamp() - 120,
        priority=5,
        timelimit=(60, 50),
        shadow="add-shadow",
        headers={"x-custom": "hello"},
        root_id="root",
        parent_id="parent",
        group_id="g",
        group_index=2,
        retries=1,
        ignore_result=True,
        replaced_task_nesting=1,
        stamped_headers=["mystamp"],
        stamps={"mystamp": "blue"},
    )
    headers = message.headers
    assert headers["eta"] == "2030-01-02T03:04:05+00:00"
    assert headers["expires"] == "2030-01-02T03:05:35+00:00"
    assert headers["timelimit"] == [60, 50]
    assert headers["x-custom"] == "hello"
    assert (headers["root_id"], headers["parent_id"]) == ("root", "parent")
    assert (headers["group"], headers["group_index"], headers["retries"]) == ("g", 2, 1)
    assert headers["ignore_result"] is True
    assert headers["replaced_task_nesting"] == 1
    assert (headers["stamped_headers"], headers["stamps"]) == (["mystamp"], {"mystamp": "blue"})
    assert message.properties["priority"] == 5
    assert message.properties["expiration"] == "120000"


def test_expiration_is_never_negative() -> None:
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert build(expires=past).properties["expiration"] == "0"


def test_eta_keeps_the_senders_offset_and_naive_means_utc() -> None:
    berlin = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Berlin"))
    assert build(eta=berlin).headers["eta"] == "2030-01-02T03:04:05+01:00"
    assert build(eta=dt.datetime(2030, 1, 2)).headers["eta"] == "2030-01-02T00:00:00+00:00"
    assert build(eta="2030-01-02T03:04:05+00:00").headers["eta"] == "2030-01-02T03:04:05+00:00"


def test_custom_headers_override_standard_ones() -> None:
    assert build(headers={"lang": "rb"}).headers["lang"] == "rb"


def test_compression_sets_the_header_and_keeps_the_content_type() -> None:
    message = build(compression="zlib")
    assert message.headers["compression"] == "application/x-gzip"
    assert message.content_type == "application/json"
    assert decode_body(message, JSON) == TaskBody([2, 3], {})


@pytest.mark.parametrize("serializer", ["json", "msgpack", "yaml", "pickle"])
def test_build_then_decode_round_trips(serializer: str) -> None:
    sig = {"task": "proj.mul", "args": [10], "kwargs": {}, "options": {}}
    message = build(
        args=[1, "x"],
        kwargs={"k": [1, 2]},
        serializer=serializer,
        callbacks=[sig],
        errbacks=[sig],
        chain=[sig],
        chord=sig,
    )
    accept = registry.normalize_accept([serializer])
    assert decode_body(message, accept) == TaskBody(
        [1, "x"], {"k": [1, 2]}, [sig], [sig], [sig], sig
    )


def test_argsrepr_reflects_the_args_type_given() -> None:
    assert build(args=[1, 2]).headers["argsrepr"] == "[1, 2]"
    assert build(kwargs={"a": "b"}).headers["kwargsrepr"] == "{'a': 'b'}"


@pytest.mark.parametrize("args", ["23", 5, {"a": 1}])
def test_args_must_be_a_list_or_tuple(args: Any) -> None:
    with pytest.raises(TypeError, match="list or tuple"):
        build(args=args)


def test_kwargs_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        build(kwargs=[("a", 1)])


def message_with(body: Any, headers: dict[str, Any] | None = None) -> TaskMessage:
    data = json.dumps(body).encode()
    return TaskMessage(headers if headers is not None else {"task": "t", "id": "i"}, {}, data)


def test_decode_refuses_content_types_outside_accept() -> None:
    message = build(serializer="pickle")
    with pytest.raises(ContentDisallowed, match="pickle"):
        decode_body(message, JSON)


def test_decode_accepts_a_two_item_body_and_null_embed() -> None:
    assert decode_body(message_with([[1], {}]), JSON) == TaskBody([1], {})
    assert decode_body(message_with([[1], {}, None]), JSON) == TaskBody([1], {})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"args": []}, r"\[args, kwargs, embed\]"),
        ([[1], {}, {}, {}], r"\[args, kwargs, embed\]"),
        (["1", {}, {}], "task args must be a list"),
        ([[], [], {}], "kwargs must be an object"),
        ([[], {}, []], "embed must be an object"),
        ([[], {}, {"callbacks": "x"}], "'callbacks' must be a list"),
        ([[], {}, {"chord": [1]}], "'chord' must be an object"),
    ],
)
def test_malformed_v2_bodies_are_invalid_messages(body: Any, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        decode_body(message_with(body), JSON)


def test_non_string_kwargs_keys_are_invalid() -> None:
    message = build(serializer="pickle")
    bad = TaskMessage(
        message.headers,
        {},
        registry.dumps([[], {1: 2}, None], "pickle")[2],
        "application/x-python-serialize",
        "binary",
    )
    with pytest.raises(InvalidMessage, match="string keys"):
        decode_body(bad, frozenset({"pickle"}))


def test_undecodable_body_is_a_decode_error() -> None:
    message = TaskMessage({"task": "t", "id": "i"}, {}, b"[[1], {")
    with pytest.raises(DecodeError):
        decode_body(message, JSON)


def test_corrupt_compressed_body_is_a_decode_error() -> None:
    message = TaskMessage({"task": "t", "compression": "application/x-gzip"}, {}, b"[[], {}]")
    with pytest.raises(DecodeError, match="corrupt"):
        decode_body(message, JSON)


V1_BODY = {
    "task": "proj.add", "id": "v1-id", "args": [2, 3], "kwargs": {"z": 1}, "group": None,
    "group_index": None, "retries": 2, "eta": "2026-11-23T07:22:34.633173", "expires": None,
    "utc": True, "callbacks": [{"task": "proj.mul", "args": [2]}], "errbacks": None,
    "timelimit": [30, 20], "taskset": "the-group", "chord": None,
}  # fmt: skip


def test_v1_body_decodes() -> None:
    body = decode_body(message_with(V1_BODY, headers={}), JSON)
    assert body == TaskBody([2, 3], {"z": 1}, [{"task": "proj.mul", "args": [2]}], None, None)


def test_v1_message_normalizes_to_v2() -> None:
    compressed, mime = compress(json.dumps(V1_BODY).encode(), "zlib")
    original = TaskMessage({"compression": mime}, {"correlation_id": "v1-id"}, compressed)
    message = normalize_v1(original, JSON)
    headers = message.headers
    assert headers["task"] == "proj.add"
    assert headers["id"] == headers["root_id"] == "v1-id"
    assert headers["eta"] == "2026-11-23T07:22:34.633173+00:00"
    assert headers["retries"] == 2
    assert headers["timelimit"] == [30, 20]
    assert headers["group"] == "the-group"
    assert headers["argsrepr"] == "[2, 3]"
    assert headers["kwargsrepr"] == "{'z': 1}"
    assert "compression" not in headers
    assert message.properties == {"correlation_id": "v1-id"}
    assert json.loads(message.body) == [
        [2, 3],
        {"z": 1},
        {"callbacks": [{"task": "proj.mul", "args": [2]}], "errbacks": None, "chain": None,
         "chord": None},
    ]  # fmt: skip


def test_v1_non_utc_naive_eta_stays_naive_for_the_worker_timezone() -> None:
    message = normalize_v1(message_with(V1_BODY | {"utc": False}, headers={}), JSON)
    assert message.headers["eta"] == "2026-11-23T07:22:34.633173"


def test_v2_message_is_returned_unchanged() -> None:
    message = build()
    assert normalize_v1(message, JSON) is message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([[1], {}, {}], "not a protocol 1 task"),
        ({"id": "x"}, "not a protocol 1 task"),
        ({"task": "t"}, "no string 'id'"),
        ({"task": "t", "id": "x", "args": "ab"}, "args must be a list"),
    ],
)
def test_headerless_messages_that_are_not_v1_are_invalid(body: Any, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        normalize_v1(message_with(body, headers={}), JSON)


def test_parse_eta_honours_offsets() -> None:
    assert parse_eta("2030-01-02T03:04:05+01:00") == parse_eta("2030-01-02T02:04:05+00:00")
    assert parse_eta("2030-01-02T02:04:05Z") == parse_eta("2030-01-02T02:04:05+00:00")
    expected = dt.datetime(2030, 1, 2, 2, 4, 5, 123456, tzinfo=dt.UTC).timestamp()
    assert parse_eta("2030-01-02T02:04:05.123456+00:00") == expected


def test_naive_timestamps_use_the_given_timezone() -> None:
    utc = parse_iso_timestamp("2030-01-02T03:04:05")
    assert utc == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    berlin = parse_iso_timestamp("2030-01-02T03:04:05", ZoneInfo("Europe/Berlin"))
    assert utc is not None and berlin == utc - 3600


def test_unset_timestamps_are_none() -> None:
    assert parse_eta(None) is None
    assert parse_iso_timestamp("") is None


def test_malformed_timestamp_is_an_invalid_message() -> None:
    with pytest.raises(InvalidMessage, match="not ISO-8601"):
        parse_eta("tomorrow")
