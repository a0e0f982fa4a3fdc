"""The serializer registry, the accept policy and the JSON codec's kombu type markers."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError, ImproperlyConfigured
from celeriac.serialization import registry
from celeriac.serialization.json_codec import json_dumps, json_loads

kombu_json = pytest.importorskip("kombu.utils.json")

JSON = frozenset({"application/json"})
EVERYTHING = registry.normalize_accept(["json", "msgpack", "yaml", "pickle"])


@pytest.mark.parametrize(
    ("name", "content_type", "content_encoding"),
    [
        ("json", "application/json", "utf-8"),
        ("msgpack", "application/x-msgpack", "binary"),
        ("yaml", "application/x-yaml", "utf-8"),
        ("pickle", "application/x-python-serialize", "binary"),
    ],
)
def test_codecs_use_celerys_content_types(
    name: str, content_type: str, content_encoding: str
) -> None:
    codec = registry.get_codec(name)
    assert (codec.name, codec.content_type, codec.content_encoding) == (
        name,
        content_type,
        content_encoding,
    )
    assert registry.get_codec(content_type) is codec


@pytest.mark.parametrize("name", ["json", "msgpack", "yaml", "pickle"])
def test_round_trip_through_every_serializer(name: str) -> None:
    value = [[1, "two", 3.5, None, True], {"k": [1, 2]}, {"callbacks": None}]
    content_type, encoding, data = registry.dumps(value, name)
    assert registry.loads(data, content_type, encoding, EVERYTHING) == value


def test_unknown_serializer_names_the_known_ones() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"unknown serializer 'toml'.*json.*msgpack"):
        registry.get_codec("toml")


def test_missing_msgpack_package_gives_the_pip_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    without = {k: v for k, v in registry._CODECS.items() if "msgpack" not in k}
    monkeypatch.setattr(registry, "_CODECS", without)
    monkeypatch.setitem(sys.modules, "msgpack", None)
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'celeriac\[msgpack\]'"):
        registry.get_codec("msgpack")
    with pytest.raises(DecodeError, match=r"celeriac\[msgpack\]"):
        registry.loads(b"\x90", "application/x-msgpack", "binary", EVERYTHING)


def test_missing_yaml_package_gives_the_pip_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    without = {k: v for k, v in registry._CODECS.items() if "yaml" not in k}
    monkeypatch.setattr(registry, "_CODECS", without)
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'celeriac\[yaml\]'"):
        registry.dumps([1], "yaml")


def test_normalize_accept_maps_names_and_keeps_content_types() -> None:
    assert registry.normalize_accept(["json", "application/x-msgpack", "text/custom"]) == {
        "application/json",
        "application/x-msgpack",
        "text/custom",
    }


def test_normalize_accept_rejects_unknown_names() -> None:
    with pytest.raises(ImproperlyConfigured, match="'jason'"):
        registry.normalize_accept(["jason"])


def test_pickle_is_refused_unless_accepted() -> None:
    content_type, encoding, data = registry.dumps({"a": 1}, "pickle")
    with pytest.raises(ContentDisallowed) as info:
        registry.loads(data, content_type, encoding, JSON)
    message = str(info.value)
    assert "application/x-python-serialize" in message
    assert "accept_content" in message and "'pickle'" in message


def test_accept_may_list_names_instead_of_content_types() -> None:
    content_type, encoding, data = registry.dumps({"a": 1}, "pickle")
    assert registry.loads(data, content_type, encoding, frozenset({"pickle"})) == {"a": 1}
    assert registry.loads(b"[1]", "application/json", "utf-8", frozenset({"json"})) == [1]


def test_unknown_content_type_is_refused_before_lookup() -> None:
    with pytest.raises(ContentDisallowed, match="text/plain"):
        registry.loads(b"hi", "text/plain", "utf-8", JSON)


def test_accepted_but_unregistered_content_type_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="text/plain"):
        registry.loads(b"hi", "text/plain", "utf-8", frozenset({"text/plain"}))


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"[1, 2", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"\xc1", "application/x-msgpack"),
        (b"[unclosed", "application/x-yaml"),
        (b"not a pickle", "application/x-python-serialize"),
    ],
)
def test_malformed_payloads_raise_decode_error(data: bytes, content_type: str) -> None:
    with pytest.raises(DecodeError, match="malformed"):
        registry.loads(data, content_type, "binary", EVERYTHING)


def test_unserializable_value_raises_encode_error_with_advice() -> None:
    with pytest.raises(EncodeError, match=r"cannot serialize with 'json'.*JSON-friendly"):
        registry.dumps({"s": {1, 2}}, "json")
    with pytest.raises(EncodeError):
        registry.dumps([object()], "msgpack")


def test_text_in_another_declared_charset_is_recoded() -> None:
    data = '["é"]'.encode("latin-1")
    assert registry.loads(data, "application/json", "latin-1", JSON) == ["é"]


def test_custom_codec_registration() -> None:
    class UpperCodec:
        name = "upper-test"
        content_type = "application/x-upper-test"
        content_encoding = "utf-8"

        def dumps(self, obj: Any) -> bytes:
            return str(obj).upper().encode()

        def loads(self, data: bytes) -> Any:
            return data.decode().lower()

    registry.register(UpperCodec())
    assert registry.dumps("abc", "upper-test") == ("application/x-upper-test", "utf-8", b"ABC")
    accept = registry.normalize_accept(["upper-test"])
    assert registry.loads(b"ABC", "application/x-upper-test", "utf-8", accept) == "abc"


# --- JSON codec -------------------------------------------------------------------------------

MARKED = [
    dt.datetime(2024, 5, 6, 7, 8, 9),
    dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
    dt.date(2024, 5, 6),
    dt.time(7, 8, 9, 10),
    Decimal("1.10"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"utf8 text",
    b"\xff\x00binary",
]


@pytest.mark.parametrize("value", MARKED, ids=lambda value: type(value).__name__)
def test_markers_round_trip(value: Any) -> None:
    assert json_loads(json_dumps({"v": value})) == {"v": value}


@pytest.mark.parametrize("value", MARKED, ids=lambda value: type(value).__name__)
def test_markers_are_byte_identical_to_kombu(value: Any) -> None:
    assert json_dumps([value, {"x": 1}]) == kombu_json.dumps([value, {"x": 1}]).encode()


@pytest.mark.parametrize("value", MARKED, ids=lambda value: type(value).__name__)
def test_kombu_output_decodes_to_the_same_value(value: Any) -> None:
    assert json_loads(kombu_json.dumps({"v": value})) == kombu_json.loads(
        kombu_json.dumps({"v": value})
    )


def test_decoding_markers_requires_exactly_the_two_keys() -> None:
    text = '{"__type__": "datetime", "__value__": "2024-05-06T07:08:09", "extra": 1}'
    assert json_loads(text) == {
        "__type__": "datetime",
        "__value__": "2024-05-06T07:08:09",
        "extra": 1,
    }
    assert json_loads('{"__type__": "datetime"}') == {"__type__": "datetime"}


def test_unknown_marker_type_stays_a_plain_dict() -> None:
    assert json_loads('{"__type__": "frobnicate", "__value__": 1}') == {
        "__type__": "frobnicate",
        "__value__": 1,
    }


def test_malformed_marker_value_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        json_loads('{"__type__": "datetime", "__value__": "yesterday"}')


def test_json_output_uses_pythons_default_separators_and_ascii() -> None:
    assert json_dumps([[2, 3], {"é": None}]) == b'[[2, 3], {"\\u00e9": null}]'


def test_json_loads_accepts_str_bytes_and_buffers() -> None:
    assert json_loads("[1]") == json_loads(b"[1]") == json_loads(bytearray(b"[1]")) == [1]
    assert json_loads(memoryview(b"[1]")) == [1]


def test_objects_with_a_json_hook_are_encoded_through_it() -> None:
    class Money:
        def __json__(self) -> Any:
            return {"amount": "1.00"}

    assert json_loads(json_dumps(Money())) == {"amount": "1.00"}


def test_circular_structures_are_rejected() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EncodeError, match="Circular"):
        registry.dumps(loop, "json")


def test_missing_content_type_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(ContentDisallowed, match="without a content type"):
        registry.loads(b"[1]", "", "utf-8", JSON)
