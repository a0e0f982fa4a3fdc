"""Buffered frame reading and a fast path for deliveries, under py-amqp.

py-amqp reads every frame with three exact-size ``recv`` calls under a socket timeout it sets
and restores each time, and decodes each delivery's header table with a generic, recursive
decoder; for a worker draining small task messages those costs are most of the CPU per task.
This module keeps py-amqp for everything (handshake, methods, confirms, errors) and changes
two things on the connections celeriac opens:

* ``FrameReader`` replaces the transport's ``read_frame``: one ``recv`` of up to 256 KiB fills
  a buffer that frames are cut from, with py-amqp's timeout semantics (``socket.timeout`` when
  no whole frame came in time; nothing is consumed then). Everything py-amqp reads goes
  through it, so its own blocking waits stay correct.
* ``FrameReader.take_delivery`` hands a *complete* ``basic.deliver`` (method, header and body
  frames all buffered) straight to the caller, decoded by ``decode_properties`` (the same
  result as py-amqp's ``decode_properties_basic``, a few times faster), instead of building a
  py-amqp ``Message`` frame by frame. Anything else at the head of the buffer goes to py-amqp's
  frame handler as usual; py-amqp's per-channel frame state is untouched because a delivery
  is taken only whole, starting at a method frame.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from struct import Struct
from typing import Any, Final

from amqp.exceptions import FrameSyntaxError, UnexpectedFrame  # type: ignore[import-untyped]

_HEAD: Final = Struct(">BHI")
_U16: Final = Struct(">H")
_SIG: Final = Struct(">HH")
_U32: Final = Struct(">I")
_I32: Final = Struct(">i")
_U64: Final = Struct(">Q")
_I64: Final = Struct(">q")
_DELIVER_SIG: Final = (60, 60)
_FRAME_END: Final = 0xCE
_CHUNK: Final = 262_144
#: (consumer_tag, delivery_tag, redelivered, exchange, routing_key, properties, body)
Delivered = tuple[str, int, bool, str, str, dict[str, Any], bytes]


def _text(raw: bytes | memoryview) -> Any:
    try:
        return bytes(raw).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return bytes(raw)


def _item(buf: memoryview, offset: int) -> tuple[Any, int]:
    """One field value at ``offset`` (py-amqp's ``_read_item``, same results)."""
    kind = buf[offset]
    offset += 1
    if kind == 83:  # S
        (size,) = _U32.unpack_from(buf, offset)
        offset += 4
        return _text(buf[offset : offset + size]), offset + size
    if kind == 86:  # V
        return None, offset
    if kind == 116:  # t
        return bool(buf[offset]), offset + 1
    if kind == 73:  # I
        return _I32.unpack_from(buf, offset)[0], offset + 4
    if kind in (76, 108):  # L, l
        return _I64.unpack_from(buf, offset)[0], offset + 8
    if kind == 70:  # F
        (size,) = _U32.unpack_from(buf, offset)
        offset += 4
        return table(buf, offset, offset + size), offset + size
    if kind == 65:  # A
        (size,) = _U32.unpack_from(buf, offset)
        offset += 4
        end = offset + size
        values = []
        while offset < end:
            value, offset = _item(buf, offset)
            values.append(value)
        return values, offset
    return _rare_item(kind, buf, offset)


_RARE: Final = {
    ord("s"): (Struct(">h"), 2),
    ord("b"): (Struct(">b"), 1),
    ord("B"): (Struct(">B"), 1),
    ord("U"): (Struct(">h"), 2),
    ord("u"): (Struct(">H"), 2),
    ord("i"): (Struct(">I"), 4),
    ord("f"): (Struct(">f"), 4),
    ord("d"): (Struct(">d"), 8),
}


def _rare_item(kind: int, buf: memoryview, offset: int) -> tuple[Any, int]:
    fixed = _RARE.get(kind)
    if fixed is not None:
        return fixed[0].unpack_from(buf, offset)[0], offset + fixed[1]
    if kind == 120:  # x: byte array
        (size,) = _U32.unpack_from(buf, offset)
        offset += 4
        return bytes(buf[offset : offset + size]), offset + size
    if kind == 68:  # D: decimal
        places = buf[offset]
        (number,) = _I32.unpack_from(buf, offset + 1)
        return Decimal(number) / Decimal(10**places), offset + 5
    if kind == 84:  # T: timestamp, naive UTC as py-amqp returns it
        (stamp,) = _U64.unpack_from(buf, offset)
        return datetime.fromtimestamp(stamp, tz=UTC).replace(tzinfo=None), offset + 8
    raise FrameSyntaxError(f"Unknown value in table: {chr(kind)!r}")


def table(buf: memoryview, offset: int, end: int) -> dict[Any, Any]:
    """A field table spanning ``buf[offset:end]``; the common types are decoded inline."""
    out: dict[Any, Any] = {}
    u32 = _U32.unpack_from
    value: Any
    while offset < end:
        size = buf[offset]
        raw = buf[offset + 1 : offset + 1 + size]
        try:
            key: Any = str(raw, "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            key = bytes(raw)
        offset += 1 + size
        kind = buf[offset]
        if kind == 83:  # S
            (size,) = u32(buf, offset + 1)
            offset += 5
            raw = buf[offset : offset + size]
            offset += size
            try:
                value = str(raw, "utf-8", "surrogatepass")
            except UnicodeDecodeError:
                value = bytes(raw)
        elif kind == 86:  # V
            value = None
            offset += 1
        elif kind == 116:  # t
            value = bool(buf[offset + 1])
            offset += 2
        else:
            value, offset = _item(buf, offset)
        out[key] = value
    return out


_SHORT_PROPERTIES: Final = (
    (0x0400, "correlation_id"),
    (0x0200, "reply_to"),
    (0x0100, "expiration"),
    (0x0080, "message_id"),
)
_TAIL_PROPERTIES: Final = ((0x0020, "type"), (0x0010, "user_id"), (0x0008, "app_id"))


def _short(buf: memoryview, offset: int) -> tuple[str, int]:
    size = buf[offset]
    offset += 1
    return bytes(buf[offset : offset + size]).decode("utf-8", "surrogatepass"), offset + size


def decode_properties(buf: memoryview, offset: int) -> tuple[dict[str, Any], int]:
    """Basic properties at ``offset``: py-amqp's ``decode_properties_basic``, same dict."""
    props: dict[str, Any] = {}
    (flags,) = _U16.unpack_from(buf, offset)
    offset += 2
    if flags & 0x8000:
        props["content_type"], offset = _short(buf, offset)
    if flags & 0x4000:
        props["content_encoding"], offset = _short(buf, offset)
    if flags & 0x2000:
        (size,) = _U32.unpack_from(buf, offset)
        offset += 4
        props["application_headers"] = table(buf, offset, offset + size)
        offset += size
    if flags & 0x1000:
        props["delivery_mode"] = buf[offset]
        offset += 1
    if flags & 0x0800:
        props["priority"] = buf[offset]
        offset += 1
    for bit, name in _SHORT_PROPERTIES:
        if flags & bit:
            props[name], offset = _short(buf, offset)
    if flags & 0x0040:
        (props["timestamp"],) = _U64.unpack_from(buf, offset)
        offset += 8
    for bit, name in _TAIL_PROPERTIES:
        if flags & bit:
            props[name], offset = _short(buf, offset)
    if flags & 0x0004:
        props["cluster_id"], offset = _short(buf, offset)
    return props, offset


class FrameReader:
    """A transport's frame source, buffered; see the module docstring."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        transport = connection.transport
        self.sock: socket.socket = transport.sock
        # whatever py-amqp buffered during the handshake comes first
        self.buf = bytearray(getattr(transport, "_read_buffer", b"") or b"")
        transport._read_buffer = b""
        self.pos = 0

    @classmethod
    def install(cls, connection: Any) -> FrameReader:
        reader = cls(connection)
        connection.transport.read_frame = reader.read_frame
        return reader

    # -- buffer -------------------------------------------------------------------------
    def _fill(self) -> None:
        """One ``recv`` under the socket's current timeout.

        Raises:
            socket.timeout: nothing arrived in time (a non-blocking socket had nothing).
            OSError: the peer closed the connection.
        """
        try:
            chunk = self.sock.recv(_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError) as exc:
            raise TimeoutError("no data") from exc
        if not chunk:
            raise OSError("Server unexpectedly closed connection")
        if self.pos and self.pos >= len(self.buf) // 2:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def _frame_end(self, start: int) -> int:
        """Index just past the whole frame starting at ``start``; -1 if not all buffered."""
        if len(self.buf) - start < 7:
            return -1
        (size,) = _U32.unpack_from(self.buf, start + 3)
        end = start + 8 + size
        return end if len(self.buf) >= end else -1

    def has_frame(self) -> bool:
        """Whether a whole frame waits in the buffer (no need to wait for the socket)."""
        return self._frame_end(self.pos) >= 0

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """py-amqp's ``transport.read_frame``: ``(type, channel, payload)``."""
        end = self._frame_end(self.pos)
        while end < 0:
            self._fill()
            end = self._frame_end(self.pos)
        start, self.pos = self.pos, end
        frame_type, channel, _size = _HEAD.unpack_from(self.buf, start)
        if self.buf[end - 1] != _FRAME_END:
            raise UnexpectedFrame(
                f"Received frame_end {self.buf[end - 1]:#04x} while expecting 0xce"
            )
        return frame_type, channel, bytes(self.buf[start + 7 : end - 1])

    # -- deliveries ---------------------------------------------------------------------------
    def take_delivery(self, channel_id: int) -> Delivered | bool:
        """A whole ``basic.deliver`` on ``channel_id`` at the head of the buffer.

        Returns True when the head is a delivery not wholly buffered yet (read more first),
        False when the head is something else (or no whole frame).
        """
        buf = self.buf
        start = self.pos
        method_end = self._frame_end(start)
        if method_end < 0 or buf[start] != 1 or _HEAD.unpack_from(buf, start)[1] != channel_id:
            return False
        if (
            _U16.unpack_from(buf, start + 7)[0],
            _U16.unpack_from(buf, start + 9)[0],
        ) != _DELIVER_SIG:
            return False
        header_end = self._frame_end(method_end)
        if header_end < 0:
            return True
        (body_size,) = _U64.unpack_from(buf, method_end + 11)
        parts = []
        got = 0
        end = header_end
        while got < body_size:
            frame_end = self._frame_end(end)
            if frame_end < 0:
                return True
            parts.append((end + 7, frame_end - 1))
            got += frame_end - end - 8
            end = frame_end
        view = memoryview(buf)
        try:
            delivered = self._decode(view, start + 11, method_end + 19, parts)
        finally:
            view.release()
        self.pos = end
        self.connection.bytes_recv += 2 + len(parts)
        return delivered

    @staticmethod
    def _decode(view: memoryview, args: int, props: int,
                parts: list[tuple[int, int]]) -> Delivered:  # fmt: skip
        consumer_tag, offset = _short(view, args)
        (delivery_tag,) = _U64.unpack_from(view, offset)
        redelivered = bool(view[offset + 8] & 1)
        exchange, offset = _short(view, offset + 9)
        routing_key, _ = _short(view, offset)
        properties, _ = decode_properties(view, props)
        body = (
            b"".join(view[a:b] for a, b in parts)
            if len(parts) != 1
            else bytes(view[parts[0][0] : parts[0][1]])
        )
        return consumer_tag, delivery_tag, redelivered, exchange, routing_key, properties, body


def drain(
    reader: FrameReader,
    channel_id: int,
    on_delivery: Callable[[Delivered], None],
    enough: Callable[[], bool],
) -> None:
    """Read what the socket has without blocking; whole deliveries go to ``on_delivery``."""
    connection = reader.connection
    sock = reader.sock
    previous = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        while not enough():
            delivered = reader.take_delivery(channel_id)
            if isinstance(delivered, tuple):
                on_delivery(delivered)
                continue
            if not delivered and reader.has_frame():
                connection.on_inbound_frame(reader.read_frame())
                continue
            try:
                reader._fill()
            except TimeoutError:
                return
    finally:
        sock.settimeout(previous)


__all__ = ["Delivered", "FrameReader", "decode_properties", "drain", "table"]
