"""Reading inbound frames so that one undecodable message cannot take the connection down.

RabbitMQ passes message properties through without parsing them, so a producer can send
``application_headers`` nested thousands of tables deep. py-amqp decodes field tables
recursively: such a content header raises ``RecursionError`` inside the frame reader, the
connection is dropped, the message is redelivered on the next one, and the consumer loops on
it forever while the messages behind it wait.

``tolerant_frame_handler`` wraps py-amqp's own frame handler. When decoding a content header
raises ``RecursionError``, it feeds py-amqp a stand-in header with the same body size and a
single header, ``UNREADABLE_HEADER``, naming the reason; the delivery then arrives as any
other, with its body intact, and the consumer sets it aside (``ConsumerLink.unreadable``).
Frames that decode, i.e. all of them in practice, pay one ``try`` that does not trigger.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import pack, unpack_from
from typing import Any, Final

import amqp  # type: ignore[import-untyped]
from amqp.method_framing import frame_handler  # type: ignore[import-untyped]

#: The one header of a stand-in: the reason the real properties were dropped.
UNREADABLE_HEADER: Final = "x-celeriac-unreadable"
UNREADABLE_REASON: Final = "message properties are nested too deeply to decode (dropped)"
#: Attribute counting stand-ins on a py-amqp connection, so consumers check only then.
STAND_INS: Final = "celeriac_stand_ins"

_CONTENT_HEADER: Final = 2


def tolerant_frame_handler(connection: Any, callback: Callable[..., Any],
                           **kwargs: Any) -> Callable[[Any], Any]:
    """py-amqp's frame handler, with undecodable content headers replaced (module docstring).

    Passed to ``amqp.Connection(frame_handler=...)``; py-amqp calls it once per connection.
    """
    inner = frame_handler(connection, callback, **kwargs)
    setattr(connection, STAND_INS, 0)

    def on_frame(frame: Any) -> Any:
        try:
            return inner(frame)
        except RecursionError:
            frame_type, channel, buf = frame
            if frame_type != _CONTENT_HEADER:
                raise
            setattr(connection, STAND_INS, getattr(connection, STAND_INS, 0) + 1)
            return inner((frame_type, channel, stand_in_header(buf)))

    return on_frame


def stand_in_header(buf: Any) -> bytes:
    """A content header with ``buf``'s class and body size and only ``UNREADABLE_HEADER``."""
    class_id, body_size = unpack_from(">HxxQ", buf, 0)
    content = amqp.Message(application_headers={UNREADABLE_HEADER: UNREADABLE_REASON})
    properties: bytes = content._serialize_properties()
    return pack(">HxxQ", class_id, body_size) + properties


__all__ = ["STAND_INS", "UNREADABLE_HEADER", "UNREADABLE_REASON", "tolerant_frame_handler"]
