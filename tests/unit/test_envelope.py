"""kombu's JSON envelope: encode/decode round trips, the captured golden sample, and refusals."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from celeriac.exceptions import InvalidMessage
from celeriac.protocol.envelope import decode_envelope, encode_envelope, envelope_priority
from celeriac.protocol.message import TaskMessage

# wire-protocol.md §1.5, as LPUSHed by Celery 5.7 (one line on the wire).
GOLDEN = (
    '{"body": "W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVs'
    'bCwgImNob3JkIjogbnVsbH1d", "content-encoding": "utf-8", '
    '"content-type": "application/json", '
    '"headers": {"lang": "py", "task": "proj.add", '
    '"id": "8cab0d93-52d8-4cb2-b00b-7d2f2812afd4", '
    '"shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, '
    '"retries": 0, "timelimit": [null, null], '
    '"root_id": "8cab0d93-52d8-4cb2-b00b-7d2f2812afd4", "parent_id": null, '
    '"argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen21260@vm", "ignore_result": false, '
    '"replaced_task_nesting": 0, "stamped_headers": null, "stamps": {}}, "properties": '
    '{"correlation_id": "8cab0d93-52d8-4cb2-b00b-7d2f2812afd4", "reply_to": '
    '"57546558-32be-3c0c-982f-d8b6c28d5c2a", "delivery_mode": 2, "delivery_info": {"exchange": "", '
    '"routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": '
    '"d87a3473-bbd2-43c8-9af8-afaa70f8f619"}}'
)


def _message(**props: object) -> TaskMessage:
    return TaskMessage(
        headers={"task": "proj.add", "id": "t-1", "timelimit": [None, None], "stamps": {}},
        properties={"correlation_id": "t-1", "delivery_mode": 2, **props},
        body=b'[[2, 3], {}, {"callbacks": null}]',
    )


def test_golden_capture_decodes_to_the_celery_fields() -> None:
    message = decode_envelope(GOLDEN)
    assert message.task_name == "proj.add"
    assert message.task_id == "8cab0d93-52d8-4cb2-b00b-7d2f2812afd4"
    assert json.loads(message.body) == [
        [2, 3], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    ]
    assert message.properties["delivery_tag"] == "d87a3473-bbd2-43c8-9af8-afaa70f8f619"
    assert message.properties["delivery_info"] == {"exchange": "", "routing_key": "celery"}
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"


def test_encode_writes_kombus_keys_and_base64_body() -> None:
    raw = encode_envelope(_message(), exchange="", routing_key="celery", delivery_tag="tag-1")
    env = json.loads(raw)
    assert list(env) == ["body", "content-encoding", "content-type", "headers", "properties"]
    assert base64.b64decode(env["body"]) == b'[[2, 3], {}, {"callbacks": null}]'
    props = env["properties"]
    assert props["body_encoding"] == "base64"
    assert props["delivery_tag"] == "tag-1"
    assert props["delivery_info"] == {"exchange": "", "routing_key": "celery"}
    assert props["priority"] == 0
    assert json.loads(raw)["properties"]["delivery_info"]["routing_key"]  # plain JSON


def test_round_trip_keeps_everything() -> None:
    original = _message(priority=5, reply_to="r")
    decoded = decode_envelope(encode_envelope(original, exchange="ex", routing_key="rk"))
    assert decoded.headers == original.headers
    assert decoded.body == original.body
    assert decoded.properties["priority"] == 5
    assert decoded.properties["reply_to"] == "r"
    assert decoded.properties["delivery_info"] == {"exchange": "ex", "routing_key": "rk"}
    assert len(decoded.properties["delivery_tag"]) == 36


def test_fresh_delivery_tag_per_encode() -> None:
    one = json.loads(encode_envelope(_message(), exchange="", routing_key="q"))
    two = json.loads(encode_envelope(_message(), exchange="", routing_key="q"))
    assert one["properties"]["delivery_tag"] != two["properties"]["delivery_tag"]


def test_binary_body_survives() -> None:
    message = TaskMessage({"task": "t", "id": "i"}, {}, bytes(range(256)), "application/x-msgpack",
                          "binary")
    decoded = decode_envelope(encode_envelope(message, exchange="", routing_key="q"))
    assert decoded.body == bytes(range(256))
    assert decoded.content_type == "application/x-msgpack"


def test_unencoded_body_is_tolerated() -> None:
    env = json.loads(GOLDEN)
    del env["properties"]["body_encoding"]
    env["body"] = "[[1], {}, {}]"
    assert decode_envelope(json.dumps(env)).body == b"[[1], {}, {}]"


def _broken(mutate: object) -> str:
    env = json.loads(GOLDEN)
    mutate(env)  # type: ignore[operator]
    return json.dumps(env)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "a JSON list"),
        (_broken(lambda e: e.pop("headers")), "'headers' is missing"),
        (_broken(lambda e: e.update(headers=[1])), "'headers' is a list"),
        (_broken(lambda e: e.pop("properties")), "'properties' is missing"),
        (_broken(lambda e: e.update(body="!!!not base64")), "not valid base64"),
        (_broken(lambda e: e.pop("body")), "'body' is missing"),
        (_broken(lambda e: e["properties"].pop("delivery_tag")), "delivery_tag is missing"),
        (_broken(lambda e: e["properties"].pop("delivery_info")), "delivery_info is missing"),
        (_broken(lambda e: e["properties"]["delivery_info"].pop("exchange")), "lacks 'exchange'"),
        (_broken(lambda e: e["properties"].update(body_encoding="rot13")), "body_encoding"),
    ],
)
def test_refusals_name_the_reason(raw: bytes | str, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        decode_envelope(raw)


def test_lenient_mode_repairs_delivery_fields() -> None:
    raw = _broken(lambda e: (e["properties"].pop("delivery_tag"),
                             e["properties"].pop("delivery_info")))
    message = decode_envelope(raw, strict=False)
    assert message.properties["delivery_tag"]
    assert message.properties["delivery_info"] == {"exchange": "", "routing_key": ""}
    assert len(message.extra["envelope_repairs"]) == 2


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 0), (0, 0), (5, 5), (12, 9), (-3, 0), ("7", 7), ("x", 0)]
)
def test_priority_is_clamped_like_kombu(value: object, expected: int) -> None:
    assert envelope_priority({"priority": value}) == expected


def test_a_text_body_envelope_is_what_kombu_writes_without_base64_and_reads_back() -> None:
    from kombu.transport.virtual.base import Channel as KombuChannel

    body = json.dumps([{"type": "task-started", "uuid": "é"}]).encode()
    message = TaskMessage(headers={"hostname": "w"}, properties={"delivery_mode": 1},
                          body=body, content_type="application/json",
                          content_encoding="utf-8")
    raw = json.loads(encode_envelope(message, exchange="celeryev", routing_key="task.multi",
                                     text_body=True))
    assert raw["body"] == body.decode() and raw["properties"]["body_encoding"] is None
    assert decode_envelope(json.dumps(raw)).body == body
    # kombu's virtual transports (Redis) decode a body with no encoding as the text itself.
    decode: Any = KombuChannel.decode_body
    assert decode(None, raw["body"], None) == body.decode()


def test_a_binary_body_keeps_base64_even_when_text_is_asked() -> None:
    message = TaskMessage(headers={}, properties={}, body=b"\x81\xa1a\x01",
                          content_type="application/x-msgpack", content_encoding="binary")
    raw = json.loads(encode_envelope(message, exchange="celeryev", routing_key="x",
                                     text_body=True))
    assert raw["properties"]["body_encoding"] == "base64"
    assert base64.b64decode(raw["body"]) == b"\x81\xa1a\x01"
