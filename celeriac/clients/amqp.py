"""Broker URLs, and ``Link``: one py-amqp connection and channel that rebuilds itself.

The client library is py-amqp (the ``amqp`` package, what Celery itself speaks through): it
writes AMQP void (``V``) header fields for ``None`` and reads them back (pitfall §7.10), nested
tables and arrays, and 64-bit ``L`` integers. py-amqp is synchronous and not thread-safe, so
every ``Link`` is used under its owner's lock; ``AmqpChannel`` keeps one link for publishing and
one for consuming so that a blocked consumer never delays a client's ``delay()``.

URL forms, as kombu reads them: ``amqp://user:password@host:5672/vhost``; ``pyamqp://`` is the
same; ``amqps://`` turns TLS on (port 5671). The vhost is the path without its first ``/`` and
percent-decoded, so ``amqp://guest:guest@localhost:5672//`` means vhost ``/`` and an empty path
means ``/`` too. ``?heartbeat=`` and ``?connect_timeout=`` in the query override the options.
"""

from __future__ import annotations

import contextlib
import logging
import select
import ssl as ssl_module
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import amqp  # type: ignore[import-untyped]
from amqp import exceptions as amqp_errors

from celeriac.clients.amqp_frames import tolerant_frame_handler
from celeriac.clients.retry import RetryPolicy
from celeriac.config.transport_keys import AmqpConnectionOptions
from celeriac.exceptions import BrokerRefusedError, ImproperlyConfigured, OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Worth reconnecting for: the socket broke, the server closed us, a channel died.
RECOVERABLE: tuple[type[BaseException], ...] = (
    OSError,
    amqp_errors.RecoverableConnectionError,
    amqp_errors.RecoverableChannelError,
    amqp_errors.ConnectionError,
)
#: The broker answered and said no: the same request would be refused again.
REFUSALS: tuple[type[BaseException], ...] = (
    amqp_errors.IrrecoverableChannelError,
    amqp_errors.NotAllowed,
)
#: Anything py-amqp can raise about the broker (channel errors included).
AMQP_ERRORS: tuple[type[BaseException], ...] = (OSError, amqp_errors.AMQPError)

_SCHEMES = {"amqp": False, "pyamqp": False, "amqps": True}


@dataclass(frozen=True, slots=True)
class AmqpParams:
    """Where and how to connect; ``ssl`` is py-amqp's argument (bool, dict or SSLContext)."""

    host: str = "localhost"
    port: int = 5672
    userid: str = "guest"
    password: str = "guest"  # noqa: S105 - RabbitMQ's well-known default, as kombu
    vhost: str = "/"
    ssl: Any = False
    heartbeat: float = 120.0
    connect_timeout: float = 4.0
    client_properties: Mapping[str, Any] = field(default_factory=dict)

    def redacted(self) -> str:
        scheme = "amqps" if self.ssl else "amqp"
        return f"{scheme}://{self.userid}:**@{self.host}:{self.port}/{self.vhost}"


def parse_url(url: str, options: AmqpConnectionOptions | None = None,
              connect_timeout: float = 4.0) -> AmqpParams:
    """Read ``url`` (see the module docstring) with ``options`` for TLS and heartbeat.

    ``options.use_ssl`` (``broker_use_ssl``: True, a dict of ``ssl`` arguments or an
    ``SSLContext``), ``options.heartbeat`` (``broker_heartbeat`` seconds, 0 disables).

    Raises:
        ImproperlyConfigured: the scheme is not amqp, pyamqp or amqps, or the port is bad.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ImproperlyConfigured(f"Not an AMQP broker URL: {url!r} (amqp://, amqps://)")
    options = options or AmqpConnectionOptions()
    use_ssl: Any = options.use_ssl or _SCHEMES[scheme]
    query = dict(parse_qsl(parts.query))
    try:
        port = parts.port or (5671 if use_ssl else 5672)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Bad port in broker URL: {exc}") from exc
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    heartbeat = float(query.get("heartbeat", options.heartbeat) or 0.0)
    timeout = float(query.get("connect_timeout", connect_timeout))
    if use_ssl is True and query.get("ssl_cert_reqs") == "CERT_NONE":
        use_ssl = {"cert_reqs": ssl_module.CERT_NONE}
    return AmqpParams(
        host=parts.hostname or "localhost",
        port=port,
        userid=unquote(parts.username) if parts.username else "guest",
        password=unquote(parts.password) if parts.password else "guest",
        vhost=unquote(path) or "/",
        ssl=use_ssl,
        heartbeat=heartbeat,
        connect_timeout=timeout,
        client_properties=dict(options.client_properties),
    )


class Link:
    """A lazily opened py-amqp connection plus one channel; ``generation`` counts (re)opens.

    Not thread-safe: the owner serializes calls. ``on_open`` runs on every fresh channel
    (confirm mode, QoS, consumers), so a reconnect restores the same state.
    """

    def __init__(
        self,
        params: AmqpParams,
        name: str,
        on_open: Callable[[Any], None] | None = None,
        read_buffer: int = 0,
    ) -> None:
        self.params = params
        self.name = name
        self.on_open = on_open
        self.read_buffer = read_buffer
        self._reading_ahead = False
        self.connection: Any = None
        self._channel: Any = None
        self.generation = 0

    @property
    def is_open(self) -> bool:
        return self._channel is not None and self.connection is not None

    def channel(self) -> Any:
        """The open channel, connecting first when needed (errors propagate to the caller)."""
        if self._channel is None:
            self._open()
        return self._channel

    def _open(self) -> None:
        self.reset()
        p = self.params
        properties = {"connection_name": f"celeriac {self.name}", **p.client_properties}
        connection = amqp.Connection(
            host=f"{p.host}:{p.port}",
            userid=p.userid,
            password=p.password,
            virtual_host=p.vhost,
            ssl=p.ssl,
            heartbeat=p.heartbeat,
            connect_timeout=p.connect_timeout,
            client_properties=properties,
            frame_handler=tolerant_frame_handler,
        )
        try:
            connection.connect()
            self._reading_ahead = bool(self.read_buffer) and buffer_reads(
                connection, self.read_buffer)
            channel = connection.channel()
            self.connection = connection
            self.generation += 1
            if self.on_open is not None:
                self.on_open(channel)
        except BaseException:
            self.connection = connection
            self.reset()
            raise
        self._channel = channel

    def reset(self) -> None:
        """Drop the connection without waiting for the broker (it may be gone)."""
        connection, self.connection, self._channel = self.connection, None, None
        if connection is None:
            return
        # collect() closes the socket; never touch ``.transport`` here: on a closed
        # connection py-amqp's property reconnects.
        with contextlib.suppress(Exception):
            connection.collect()

    def close(self) -> None:
        """Close politely when the broker is reachable, else just drop the socket."""
        connection = self.connection
        if connection is not None:
            with contextlib.suppress(*AMQP_ERRORS, AttributeError):
                connection.close()
        self.reset()

    def pump(self, timeout: float) -> bool:
        """Read and dispatch one inbound frame; False when none came within ``timeout``."""
        try:
            self.connection.drain_events(timeout=timeout)
        except TimeoutError:  # socket.timeout
            return False
        return True

    def wait_readable(self, timeout: float) -> None:
        """Block until the socket has something to read or ``timeout`` passes.

        Called *without* the owner's lock: a reader that blocked inside ``pump`` while holding
        the lock would keep acks, QoS changes and heartbeats of other threads waiting for the
        whole read timeout. Readiness only says "try ``pump(0)`` now"; a socket closed by
        another thread meanwhile just ends the wait early (the next ``pump`` reconnects).
        Bytes already read ahead into py-amqp's buffer (``buffer_reads``, or decrypted TLS
        bytes) count as readable: ``select`` cannot see them.
        """
        transport: Any = getattr(self.connection, "_transport", None)
        sock = getattr(transport, "sock", None)
        if sock is None:
            time.sleep(min(timeout, 0.05))
            return
        if getattr(transport, "_read_buffer", None):
            return
        pending = getattr(sock, "pending", None)  # TLS: decrypted bytes already buffered
        if pending is not None and pending():
            return
        with contextlib.suppress(OSError, ValueError):
            select.select([sock], [], [], max(timeout, 0.0))

    def drain_ready(self, enough: Callable[[], bool] | None = None) -> int:
        """Read every frame that has begun to arrive, without waiting for new ones.

        On a link with ``buffer_reads`` the frames come from py-amqp's read-ahead buffer, one
        ``read_frame`` each (``blocking_read(None)`` minus its do-nothing timeout context), and
        the socket is asked (``select``, no wait) only when that buffer is empty: no
        per-frame timeout switching and no ``recv`` per frame part. A frame whose first
        bytes are here is read to its end even if the rest is still in flight, as a blocking
        read would. Returns how many frames were read.
        """
        if not self._reading_ahead or self.connection is None:
            count = 0
            while (enough is None or not enough()) and self.pump(0):
                count += 1
            return count
        transport = self.connection.transport
        sock = transport.sock
        read_frame, on_frame = transport.read_frame, self.connection.on_inbound_frame
        count = 0
        while enough is None or not enough():
            if not transport._read_buffer and not select.select([sock], [], [], 0)[0]:
                break
            on_frame(read_frame())
            count += 1
        return count

    def heartbeat_tick(self) -> None:
        """Send our heartbeat if due, read what is pending, and fail if the broker went quiet."""
        if self.connection is None:
            return
        self.connection.heartbeat_tick()
        while self.pump(0):
            pass

    def keep_alive(self) -> None:
        """Send our heartbeat if due (reading is the caller's): a connection that only
        listens sends nothing else, and RabbitMQ closes it after two silent intervals."""
        if self.connection is not None:
            self.connection.heartbeat_tick()

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Collect every frame written inside the block and send them in one write.

        py-amqp writes each method with its own ``sendall``; a batch of publishes or acks is
        one TCP write this way. The frame writer hands over a view of a reused buffer, hence
        the copy.
        """
        transport = self.connection.transport
        chunks: list[bytes] = []
        original = transport._write
        transport._write = lambda data: chunks.append(bytes(data))
        try:
            yield
        finally:
            transport._write = original
        if chunks:
            transport.write(b"".join(chunks))


def buffer_reads(connection: Any, size: int) -> bool:
    """Let py-amqp read ``size`` bytes ahead from a plain TCP socket instead of frame by frame.

    py-amqp reads every frame with two or three exact-length ``recv`` calls (header, payload,
    end octet); a burst of small deliveries costs about ten system calls per message. Its
    reader already keeps whatever a ``recv`` returned beyond the bytes asked for in
    ``_read_buffer`` for the next read, so a ``recv`` that asks for at least ``size`` bytes
    is enough: py-amqp still splits and decodes every frame itself. TLS sockets keep their
    own reader (``SSLSocket.read`` buffers already). Returns whether reading ahead is on:
    it relies on two private attributes of py-amqp's transport (5.x), and stays off, with
    py-amqp reading frame by frame as usual, should a release rename them.
    """
    transport = connection.transport
    sock = transport.sock
    if (sock is None or hasattr(sock, "pending") or not hasattr(transport, "_quick_recv")
            or not hasattr(transport, "_read_buffer")):
        return False
    recv = sock.recv

    def recv_ahead(wanted: int) -> bytes:
        data: bytes = recv(wanted if wanted > size else size)
        return data

    transport._quick_recv = recv_ahead
    return True


def refusal(params: AmqpParams, what: str, exc: BaseException) -> str:
    """The sentence for a refusal, with the usual cause named when the reply shows it."""
    text = str(exc)
    hint = ""
    if "message size" in text or "max size" in text:
        hint = " (the message is larger than the broker's max_message_size)"
    elif isinstance(exc, amqp_errors.AccessRefused) or "ACCESS_REFUSED" in text:
        hint = " (check the user, password and permissions in the broker URL)"
    elif isinstance(exc, amqp_errors.NotAllowed):
        hint = f" (does vhost {params.vhost!r} exist, and may this user use it?)"
    return f"RabbitMQ at {params.redacted()} refused to {what}: {text}{hint}"


def with_retries(
    link: Link, action: Callable[[], T], what: str, policy: RetryPolicy, *, reset: bool = True
) -> T:
    """Run ``action``; on a recoverable error reset ``link``, wait per ``policy``, try again.

    Raises:
        OperationalError: the retries ran out.
        BrokerRefusedError: the broker refused for good (an irrecoverable channel error such
            as PRECONDITION_FAILED for a message over ``max_message_size``, a denied login or
            vhost): raised at once, retrying cannot help.
    """
    intervals = policy.intervals()
    failures = 0
    while True:
        try:
            return action()
        except REFUSALS as exc:
            link.reset()
            raise BrokerRefusedError(refusal(link.params, what, exc)) from exc
        except RECOVERABLE as exc:
            failures += 1
            if reset:
                link.reset()
            delay = next(intervals, None)
            if delay is None:
                raise OperationalError(
                    f"RabbitMQ at {link.params.redacted()} unreachable while trying to {what} "
                    f"({failures} attempt(s)): {exc!r}. Check that the server runs and the "
                    "broker URL, user and vhost are right."
                ) from exc
            if failures == 1:
                logger.warning("RabbitMQ connection problem while trying to %s: %r", what, exc)
            time.sleep(delay)


__all__ = [
    "AMQP_ERRORS",
    "RECOVERABLE",
    "REFUSALS",
    "AmqpParams",
    "Link",
    "buffer_reads",
    "parse_url",
    "refusal",
    "with_retries",
]
