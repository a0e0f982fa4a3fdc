"""Building and reading Celery task messages (protocol v2, and v1 on the way in).

``build_v2`` produces exactly the header set, properties and body a Celery 5.7 client publishes
(wire-protocol.md §1.2-§1.6, §1.10); ``decode_body`` and ``normalize_v1`` are the worker's side:
they refuse content types outside ``accept_content`` before parsing, undo compression, check the
body's shape, and turn a legacy protocol-1 message (§1.11) into the v2 shape so the rest of the
worker handles one layout. Everything here is pure: no I/O, no clocks except ``build_v2``'s
``expiration`` (which Celery computes relative to send time; pass ``now`` to pin it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from celeriac.exceptions import InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.serialization import registry
from celeriac.serialization.compression import compress, decompress
from celeriac.utils.saferepr import saferepr

__all__ = [
    "TaskBody",
    "build_v2",
    "decode_body",
    "normalize_v1",
    "parse_eta",
    "parse_iso_timestamp",
]

#: AMQP "persistent": Celery's default ``task_default_delivery_mode``.
PERSISTENT: Final = 2
_EMBED_KEYS: Final = ("callbacks", "errbacks", "chain", "chord")
_EMPTY_EMBED_JSON: Final = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True, slots=True)
class TaskBody:
    """The decoded ``[args, kwargs, embed]`` body; embed fields are ``None`` when absent."""

    args: list[Any]
    kwargs: dict[str, Any]
    callbacks: list[Any] | None = None
    errbacks: list[Any] | None = None
    chain: list[Any] | None = None
    chord: dict[str, Any] | None = None


def _iso(value: datetime | str | None) -> str | None:
    """ISO-8601 with an offset, as Celery writes ``eta``/``expires``; naive means UTC."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _expiration_ms(expires: datetime | str, now: float | None) -> str:
    """kombu's ``expiration`` property: milliseconds left, as a string, never negative."""
    deadline = parse_iso_timestamp(expires) if isinstance(expires, str) else None
    if deadline is None:
        assert isinstance(expires, datetime)
        aware = expires if expires.tzinfo is not None else expires.replace(tzinfo=UTC)
        deadline = aware.timestamp()
    left = deadline - (time.time() if now is None else now)
    return str(int(max(left, 0.0) * 1000))


def _checked_args(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    if not isinstance(args, list | tuple):
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise TypeError(f"task args must be a list or tuple, got {type(args).__name__}")
        args = list(args)
    if not isinstance(kwargs, dict):
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"task keyword arguments must be a mapping, got {type(kwargs).__name__}"
            )
        kwargs = dict(kwargs)
    return args, kwargs


def build_v2(
    *,
    task_name: str,
    task_id: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    serializer: str = "json",
    compression: str | None = None,
    eta: datetime | str | None = None,
    expires: datetime | str | None = None,
    retries: int = 0,
    timelimit: tuple[float | None, float | None] = (None, None),
    root_id: str | None = None,
    parent_id: str | None = None,
    group_id: str | None = None,
    group_index: int | None = None,
    shadow: str | None = None,
    origin: str,
    ignore_result: bool = False,
    callbacks: list[Any] | None = None,
    errbacks: list[Any] | None = None,
    chain: list[Any] | None = None,
    chord: dict[str, Any] | None = None,
    reply_to: str = "",
    priority: int | None = None,
    headers: Mapping[str, Any] | None = None,
    replaced_task_nesting: int = 0,
    stamped_headers: list[str] | None = None,
    stamps: Mapping[str, Any] | None = None,
    now: float | None = None,
    delivery_mode: int = PERSISTENT,
) -> TaskMessage:
    """Build the protocol-v2 message Celery 5.7's ``apply_async`` would publish.

    ``timelimit`` is ``(hard, soft)`` (pitfall §7.1). Naive ``eta``/``expires`` are taken as UTC;
    strings pass through unchanged (a retry re-sends its original ISO text). ``headers`` are
    merged over the standard ones, like ``apply_async(headers=...)``. ``now`` (epoch seconds)
    pins the clock used for the ``expiration`` property. ``delivery_mode`` is 2 (persistent,
    Celery's default) or 1 (transient; RabbitMQ may then keep it in memory only).

    Raises:
        TypeError: ``args`` is not a list/tuple or ``kwargs`` not a mapping (Celery's check).
        EncodeError: the body cannot be serialized with ``serializer``.
        ImproperlyConfigured: unknown serializer or compression method.
    """
    args, kwargs = _checked_args(args, kwargs)
    eta_text = _iso(eta)
    expires_text = _iso(expires)
    message_headers: dict[str, Any] = {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": shadow,
        "eta": eta_text,
        "expires": expires_text,
        "group": group_id,
        "group_index": group_index,
        "retries": retries,
        "timelimit": [timelimit[0], timelimit[1]],
        "root_id": root_id or task_id,
        "parent_id": parent_id,
        "argsrepr": saferepr(args),
        "kwargsrepr": saferepr(kwargs),
        "origin": origin,
        "ignore_result": ignore_result,
        "replaced_task_nesting": replaced_task_nesting,
        "stamped_headers": stamped_headers,
        "stamps": dict(stamps) if stamps else {},
    }
    if headers:
        message_headers.update(headers)
    properties: dict[str, Any] = {
        "correlation_id": task_id,
        "reply_to": reply_to or "",
        "delivery_mode": delivery_mode,
        "priority": priority or 0,
    }
    if expires is not None:
        properties["expiration"] = _expiration_ms(expires, now)
    if callbacks is None and errbacks is None and chain is None and chord is None:
        embed: dict[str, Any] = _EMPTY_EMBED_JSON
    else:
        embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain, "chord": chord}
    content_type, content_encoding, body = registry.dumps((args, kwargs, embed), serializer)
    if compression:
        body, message_headers["compression"] = compress(body, compression)
    return TaskMessage(message_headers, properties, body, content_type, content_encoding)


def parse_iso_timestamp(value: str | datetime | None, naive_tz: tzinfo = UTC) -> float | None:
    """Epoch seconds for an ``eta``/``expires`` header; ``None`` when unset.

    Offsets are honoured (Celery writes the sender's app timezone offset, pitfall §7.7); a naive
    string is read in ``naive_tz``, which should be the worker's configured timezone.

    Raises:
        InvalidMessage: the value is not an ISO-8601 timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise InvalidMessage(f"timestamp {value!r} is not ISO-8601: {exc}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return moment.timestamp()


#: ``eta`` and ``expires`` share one format.
parse_eta = parse_iso_timestamp


def _payload(message: TaskMessage, accept: frozenset[str]) -> Any:
    body = message.body
    method = message.headers.get("compression")
    if method:
        body = decompress(body, method)
    return registry.loads(body, message.content_type, message.content_encoding, accept)


def _optional(embed: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = embed.get(key)
    if value is not None and not isinstance(value, kind):
        raise InvalidMessage(
            f"task body embed {key!r} must be {what} or null, got {saferepr(value)}"
        )
    return value


def _task_body(args: Any, kwargs: Any, embed: Any) -> TaskBody:
    if not isinstance(args, list | tuple):
        raise InvalidMessage(f"task args must be a list, got {type(args).__name__}")
    if not isinstance(kwargs, dict) or not all(type(key) is str for key in kwargs):
        raise InvalidMessage(
            f"task kwargs must be an object with string keys, got {saferepr(kwargs)}"
        )
    if embed is None:
        embed = {}
    elif not isinstance(embed, dict):
        raise InvalidMessage(f"task body embed must be an object, got {type(embed).__name__}")
    return TaskBody(
        list(args) if isinstance(args, tuple) else args,
        kwargs,
        callbacks=_optional(embed, "callbacks", (list, tuple), "a list"),
        errbacks=_optional(embed, "errbacks", (list, tuple), "a list"),
        chain=_optional(embed, "chain", (list, tuple), "a list"),
        chord=_optional(embed, "chord", dict, "an object"),
    )


def _v2_body(payload: Any) -> TaskBody:
    if not isinstance(payload, list | tuple) or len(payload) not in (2, 3):
        raise InvalidMessage(
            "protocol 2 task body must be [args, kwargs, embed], got "
            f"{type(payload).__name__} {saferepr(payload, 200)}"
        )
    return _task_body(payload[0], payload[1], payload[2] if len(payload) == 3 else None)


def _v1_fields(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("task"), str):
        raise InvalidMessage(
            "message has no 'task' header and its body is not a protocol 1 task "
            f"(an object with 'task' and 'id'): {saferepr(payload, 200)}"
        )
    if not isinstance(payload.get("id"), str):
        raise InvalidMessage(f"protocol 1 task {payload['task']!r} has no string 'id'")
    return payload


def _v1_body(fields: Mapping[str, Any]) -> TaskBody:
    embed = {key: fields.get(key) for key in ("callbacks", "errbacks", "chord")}
    return _task_body(fields.get("args", []), fields.get("kwargs", {}), embed)


def decode_body(message: TaskMessage, accept: frozenset[str]) -> TaskBody:
    """Decode and validate a task message's body (protocol 2, or protocol 1 by fallback).

    Raises:
        ContentDisallowed: the content type is not in ``accept``; the body was not parsed.
        DecodeError: decompression or deserialization failed.
        InvalidMessage: the decoded body does not have the protocol's shape.
    """
    payload = _payload(message, accept)
    if "task" in message.headers:
        return _v2_body(payload)
    return _v1_body(_v1_fields(payload))


def _v1_eta(value: Any, utc: bool) -> Any:
    """Make a v1 naive ISO time explicit: with ``utc`` set (the default) it means UTC (§7.7)."""
    if not isinstance(value, str) or not value or not utc:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidMessage(f"protocol 1 timestamp {value!r} is not ISO-8601: {exc}") from exc
    return value if moment.tzinfo is not None else moment.replace(tzinfo=UTC).isoformat()


def _v1_headers(
    fields: Mapping[str, Any], body: TaskBody, extra: Mapping[str, Any]
) -> dict[str, Any]:
    utc = bool(fields.get("utc", True))
    timelimit = fields.get("timelimit") or (None, None)
    headers: dict[str, Any] = {
        "lang": fields.get("lang", "py"),
        "task": fields["task"],
        "id": fields["id"],
        "shadow": fields.get("shadow"),
        "eta": _v1_eta(fields.get("eta"), utc),
        "expires": _v1_eta(fields.get("expires"), utc),
        "group": fields.get("group") or fields.get("taskset"),
        "group_index": fields.get("group_index"),
        "retries": fields.get("retries") or 0,
        "timelimit": [timelimit[0], timelimit[1]] if len(timelimit) == 2 else [None, None],
        "root_id": fields.get("root_id") or fields["id"],
        "parent_id": fields.get("parent_id"),
        "argsrepr": saferepr(body.args),
        "kwargsrepr": saferepr(body.kwargs),
        "origin": fields.get("origin"),
        "ignore_result": False,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    headers.update((key, value) for key, value in extra.items() if key != "compression")
    return headers


def normalize_v1(message: TaskMessage, accept: frozenset[str]) -> TaskMessage:
    """Return ``message`` in protocol-2 shape; v2 messages come back as the same object.

    A v1 message (no ``task`` header, §1.11) has its headers rebuilt from the body, and its body
    re-encoded as ``[args, kwargs, embed]`` with the same content type, uncompressed. Properties
    and ``extra`` (transport bookkeeping such as delivery tags) are kept.

    Raises:
        ContentDisallowed, DecodeError, InvalidMessage: as ``decode_body``.
    """
    if "task" in message.headers:
        return message
    fields = _v1_fields(_payload(message, accept))
    body = _v1_body(fields)
    headers = _v1_headers(fields, body, message.headers)
    embed = {key: getattr(body, key) for key in _EMBED_KEYS}
    content_type, content_encoding, data = registry.dumps(
        [body.args, body.kwargs, embed], registry.get_codec(message.content_type).name
    )
    return TaskMessage(
        headers, message.properties, data, content_type, content_encoding, message.extra
    )
