"""The serializer registry: codecs keyed by name *and* content type, plus the accept policy.

A producer picks a codec by name (``task_serializer='json'``) and the message records its content
type; a consumer picks the decoder from that content type, but only if the content type is in
its ``accept_content`` set (Celery's defence against untrusted pickle/yaml, wire-protocol.md
§1.10). Names and content types are exactly Celery's, so mixed Celery/celeriac fleets agree.

Built-in codecs for optional packages (msgpack, yaml) are created on first use; when the package
is missing the error carries the ``pip install`` line instead of an ImportError deep in a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError, ImproperlyConfigured
from celeriac.serialization.json_codec import JSON_CODEC
from celeriac.serialization.other_codecs import MsgpackCodec, PickleCodec, YamlCodec

__all__ = [
    "BUILTIN_CONTENT_TYPES",
    "Codec",
    "dumps",
    "get_codec",
    "loads",
    "normalize_accept",
    "register",
]

logger = logging.getLogger(__name__)


class Codec(Protocol):
    """A serializer: turns payloads into bytes and back, and says how it labels them."""

    name: str
    content_type: str
    content_encoding: str

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


#: Celery's names and content types for the serializers it ships (§1.10).
BUILTIN_CONTENT_TYPES: Final[dict[str, str]] = {
    "json": "application/json",
    "msgpack": "application/x-msgpack",
    "yaml": "application/x-yaml",
    "pickle": "application/x-python-serialize",
}

#: Codecs built lazily because their package is optional: name -> (factory, extra to install).
_LAZY: Final[dict[str, tuple[Callable[[], Codec], str]]] = {
    "msgpack": (MsgpackCodec, "msgpack"),
    "yaml": (YamlCodec, "yaml"),
}
_LAZY_BY_TYPE: Final = {BUILTIN_CONTENT_TYPES[name]: name for name in _LAZY}

#: Name or content type -> codec. Written at import and by ``register`` (plug-in setup time).
_CODECS: dict[str, Codec] = {}
#: Content type -> codec name, for accept sets that list names.
_TYPE_TO_NAME: dict[str, str] = {ctype: name for name, ctype in BUILTIN_CONTENT_TYPES.items()}

_ENCODE_HINT: Final = (
    "use JSON-friendly values (str, int, float, bool, None, list, dict, plus datetime, date, "
    "time, Decimal, UUID and bytes) or pick another serializer"
)


def register(codec: Codec) -> None:
    """Make ``codec`` available under its name and its content type (replacing any previous)."""
    _CODECS[codec.name] = codec
    _CODECS[codec.content_type] = codec
    _TYPE_TO_NAME[codec.content_type] = codec.name


def _known() -> str:
    return ", ".join(sorted({*BUILTIN_CONTENT_TYPES, *(c.name for c in _CODECS.values())}))


def get_codec(name_or_content_type: str) -> Codec:
    """Find a codec by serializer name (``'json'``) or content type (``'application/json'``).

    Raises:
        ImproperlyConfigured: nothing is registered under that key (the message lists what is),
            or it needs an optional package that is not installed (the message says what to
            ``pip install``).
    """
    try:
        return _CODECS[name_or_content_type]
    except KeyError:
        pass
    name = _LAZY_BY_TYPE.get(name_or_content_type, name_or_content_type)
    if name not in _LAZY:
        raise ImproperlyConfigured(
            f"unknown serializer {name_or_content_type!r}; known serializers: {_known()}"
        )
    factory, extra = _LAZY[name]
    try:
        codec = factory()
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"the {name!r} serializer needs the {exc.name or name!r} package: "
            f"pip install 'celeriac[{extra}]'"
        ) from exc
    register(codec)
    return codec


def normalize_accept(names: Iterable[str]) -> frozenset[str]:
    """Turn an ``accept_content`` list of names and/or content types into content types.

    Entries containing ``/`` are taken as content types verbatim (as kombu does), so a custom
    type can be allowed before its codec is registered.

    Raises:
        ImproperlyConfigured: a name that no serializer answers to.
    """
    allowed: set[str] = set()
    for entry in names:
        if "/" in entry:
            allowed.add(entry)
        elif entry in BUILTIN_CONTENT_TYPES:
            allowed.add(BUILTIN_CONTENT_TYPES[entry])
        elif entry in _CODECS:
            allowed.add(_CODECS[entry].content_type)
        else:
            raise ImproperlyConfigured(
                f"accept_content names unknown serializer {entry!r}; known serializers: {_known()}"
            )
    return frozenset(allowed)


def dumps(obj: Any, serializer: str) -> tuple[str, str, bytes]:
    """Serialize ``obj`` and return ``(content_type, content_encoding, data)``.

    Raises:
        ImproperlyConfigured: unknown serializer or missing package (see ``get_codec``).
        EncodeError: the value cannot be represented by this serializer.
    """
    codec = _CODECS.get(serializer) or get_codec(serializer)
    try:
        data = codec.dumps(obj)
    except Exception as exc:  # codecs raise assorted types; all mean "cannot encode this value"
        raise EncodeError(f"cannot serialize with {codec.name!r}: {exc}; {_ENCODE_HINT}") from exc
    return codec.content_type, codec.content_encoding, data


def _is_accepted(content_type: str, accept: frozenset[str]) -> bool:
    if content_type in accept:
        return True
    name = _TYPE_TO_NAME.get(content_type)
    return name is not None and name in accept


def _refuse(content_type: str) -> ContentDisallowed:
    if not content_type:
        return ContentDisallowed(
            "Refusing to deserialize a message without a content type: the sender must set "
            "content_type (e.g. 'application/json')"
        )
    name = _TYPE_TO_NAME.get(content_type)
    label = f"{name} ({content_type})" if name else content_type
    return ContentDisallowed(
        f"Refusing to deserialize untrusted content of type {label}: add "
        f"{name or content_type!r} to accept_content to allow it"
    )


def _recode(data: bytes, content_encoding: str, codec: Codec) -> bytes:
    """Re-encode text bodies declared in a charset other than the codec's own (rare)."""
    encoding = content_encoding.lower()
    if codec.content_encoding != "utf-8" or encoding in ("", "utf-8", "utf8", "binary"):
        return data
    return data.decode(encoding).encode("utf-8")


def loads(data: bytes, content_type: str, content_encoding: str, accept: frozenset[str]) -> Any:
    """Decode a payload, refusing content types outside ``accept`` before touching the bytes.

    Args:
        accept: allowed serializer names and/or content types (``normalize_accept`` output, or
            Celery-style names such as ``{'json'}``).

    Raises:
        ContentDisallowed: the content type is not accepted; the payload was not parsed.
        DecodeError: unknown content type, missing codec package, or malformed payload.
    """
    if not _is_accepted(content_type, accept):
        raise _refuse(content_type)
    codec = _CODECS.get(content_type)
    if codec is None:
        try:
            codec = get_codec(content_type)
        except ImproperlyConfigured as exc:
            raise DecodeError(f"cannot decode content type {content_type!r}: {exc}") from exc
    try:
        return codec.loads(_recode(data, content_encoding or "", codec))
    except Exception as exc:  # codecs raise assorted types; all mean "malformed payload"
        raise DecodeError(
            f"malformed {codec.name} payload ({content_type}, {len(data)} bytes): {exc}"
        ) from exc


register(JSON_CODEC)
register(PickleCodec())
