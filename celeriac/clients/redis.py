"""Redis URLs to redis-py clients: ``redis://``, ``rediss://``, ``redis+socket://``, ``sentinel://``.

Accepted forms (kombu's, so Celery settings port as they are):

* ``redis://[[user]:password@]host[:port][/db][?socket_timeout=..&ssl_cert_reqs=..]``
* ``rediss://...`` TLS; options from ``ssl`` / ``broker_use_ssl`` in the transport options
  (keys ``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``) or the query.
* ``redis+socket:///path/to/redis.sock[?virtual_host=<db>]`` (also ``unix://``)
* ``sentinel://[:pw@]h1:26379[/db];sentinel://h2:26379`` with ``master_name`` in the options
  (``sentinel_kwargs`` for the sentinels' own auth).

No I/O happens here: clients connect on first use. Reconnects are redis-py's ``Retry`` with
exponential backoff for the short blips (a pooled connection gone stale, a failover); the
transport's own retry loop sits above it and enforces ``connection_max_retries``.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from celeriac.config.transport_keys import RedisClientOptions
from celeriac.exceptions import ImproperlyConfigured

_CERT_REQS = {
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
}
_FLOAT_QUERY = ("socket_timeout", "socket_connect_timeout", "health_check_interval")
_SSL_KEYS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


@dataclass(frozen=True, slots=True)
class RedisParams:
    """What a URL says, kept separate from the client so tests can check parsing without I/O."""

    scheme: str
    db: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)
    sentinels: tuple[tuple[str, int], ...] = ()

    def redacted(self) -> str:
        """A printable form for logs and errors; the password never appears."""
        where = self.kwargs.get("unix_socket_path") or (
            f"{self.kwargs.get('host', '')}:{self.kwargs.get('port', '')}"
        )
        if self.sentinels:
            where = ";".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"{self.scheme}://{where}/{self.db}"


def parse_url(url: str, options: RedisClientOptions | None = None) -> RedisParams:
    """Parse a broker or backend URL; ``options`` are the transport options (ssl, sentinel)."""
    options = options or RedisClientOptions()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis+socket", "unix", "socket"):
        return _parse_socket(url, scheme)
    if scheme == "sentinel":
        return _parse_sentinel(url, options)
    if scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(
            f"Not a Redis URL: {scheme!r}; use redis://, rediss://, redis+socket:// or sentinel://"
        )
    parts = urlsplit(url)
    kwargs: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 6379}
    _add_auth(kwargs, parts.username, parts.password)
    db = _db_from_path(parts.path, url)
    query = dict(parse_qsl(parts.query))
    if "virtual_host" in query:
        db = _int(query.pop("virtual_host"), "virtual_host", url)
    kwargs.update(_query_kwargs(query))
    if scheme == "rediss":
        kwargs["ssl"] = True
        kwargs.update(_ssl_kwargs({**_ssl_options(options.use_ssl), **_ssl_query(query)}))
    return RedisParams(scheme=scheme, db=db, kwargs=kwargs)


def _parse_socket(url: str, scheme: str) -> RedisParams:
    parts = urlsplit(url)
    path = unquote(parts.path or "")
    if not path:
        raise ImproperlyConfigured(
            f"{scheme}:// URL needs a socket path, e.g. redis+socket:///tmp/redis.sock"
        )
    query = dict(parse_qsl(parts.query))
    db = _int(query.pop("virtual_host", query.pop("db", "0")), "virtual_host", url)
    kwargs: dict[str, Any] = {"unix_socket_path": path}
    _add_auth(kwargs, parts.username, parts.password)
    kwargs.update(_query_kwargs(query))
    return RedisParams(scheme=scheme, db=db, kwargs=kwargs)


def _parse_sentinel(url: str, options: RedisClientOptions) -> RedisParams:
    sentinels: list[tuple[str, int]] = []
    kwargs: dict[str, Any] = {}
    db = 0
    for piece in url.split(";"):
        piece = piece.strip()
        if not piece:
            continue
        parts = urlsplit(piece)
        sentinels.append((parts.hostname or "127.0.0.1", parts.port or 26379))
        _add_auth(kwargs, parts.username, parts.password)
        if parts.path.strip("/"):
            db = _db_from_path(parts.path, url)
    if not options.master_name:
        raise ImproperlyConfigured(
            "sentinel:// needs the master's name: set broker_transport_options="
            "{'master_name': 'mymaster'} (result_backend_transport_options for results)"
        )
    return RedisParams(scheme="sentinel", db=db, kwargs=kwargs, sentinels=tuple(sentinels))


def _add_auth(kwargs: dict[str, Any], username: str | None, password: str | None) -> None:
    if password:
        kwargs["password"] = unquote(password)
    if username:
        kwargs["username"] = unquote(username)


def _db_from_path(path: str, url: str) -> int:
    text = path.strip("/")
    return _int(text, "database number", url) if text else 0


def _int(value: str, what: str, url: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Invalid {what} {value!r} in Redis URL {url.split('@')[-1]!r}"
        ) from exc


def _query_kwargs(query: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _FLOAT_QUERY:
        if key in query:
            out[key] = float(query[key])
    return out


def _ssl_query(query: dict[str, str]) -> dict[str, Any]:
    return {key: query[key] for key in _SSL_KEYS if key in query}


def _ssl_options(use_ssl: Any) -> dict[str, Any]:
    return dict(use_ssl) if isinstance(use_ssl, Mapping) else {}


def _ssl_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Translate kombu's ssl option names/values into redis-py's (``CERT_REQUIRED`` etc.)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "ssl_cert_reqs" and isinstance(value, str):
            norm = value.lower()
            if norm not in _CERT_REQS:
                raise ImproperlyConfigured(
                    f"ssl_cert_reqs={value!r} is not one of CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED"
                )
            out[key] = _CERT_REQS[norm]
        elif key in _SSL_KEYS:
            out[key] = value
    return out


def describe(params: RedisParams, options: RedisClientOptions) -> str:
    """Where a client points, for errors and logs: the redacted URL, plus the sentinel master."""
    where = params.redacted()
    if params.sentinels and options.master_name:
        where += f" (master {options.master_name})"
    return where


def build_client(
    params: RedisParams, options: RedisClientOptions, connect_timeout: float
) -> redis.Redis:
    """A redis-py client (own pool, thread-safe) for ``params``; connects lazily."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.02), retries=2)
    common: dict[str, Any] = {
        "db": params.db,
        "socket_connect_timeout": connect_timeout,
        "socket_keepalive": True,
        "retry": retry,
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": options.health_check_interval,
        "max_connections": options.max_connections,
    }
    if options.socket_timeout is not None:
        common["socket_timeout"] = options.socket_timeout
    kwargs = {**common, **params.kwargs}
    if params.sentinels:
        from redis.sentinel import Sentinel

        # A dead sentinel must cost one connect timeout, not redis-py's retries on each.
        sentinel_kwargs = {"socket_connect_timeout": connect_timeout,
                           "retry": Retry(NoBackoff(), 0),
                           **options.sentinel_kwargs}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(params.sentinels), sentinel_kwargs=sentinel_kwargs, **kwargs
        )
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            str(options.master_name)
        )
        return master
    return redis.Redis(**kwargs)


def refusal(where: str, what: str, exc: redis.ResponseError) -> str:
    """The sentence for an error reply: what Redis refused and, for the usual causes, why.

    Error replies are permanent for the request that caused them (a message over
    ``proto-max-bulk-len``, a full server under ``maxmemory``, a read-only replica), so they
    are reported at once, never retried as if the server were down.
    """
    text = str(exc).rstrip(".")
    hint = ""
    if "invalid bulk length" in text or "max bulk" in text.lower():
        hint = " (the message is larger than the server's proto-max-bulk-len)"
    elif isinstance(exc, redis.exceptions.OutOfMemoryError) or text.startswith("OOM"):
        hint = " (the server is at its maxmemory limit: free memory or raise maxmemory)"
    elif isinstance(exc, redis.exceptions.ReadOnlyError):
        hint = " (the server is a read-only replica: point the URL at the primary)"
    return f"Redis at {where} refused to {what}: {text}{hint}"


#: Redis refuses to set ``proto-max-bulk-len`` below 1 MiB: smaller values never exceed it.
_SMALLEST_BULK_LIMIT = 1024 * 1024


def oversize_refusal(client: redis.Redis, where: str, sizes: Iterable[int]) -> str | None:
    """Why a publish that lost its connection was refused, if a value was over the size limit.

    A value over ``proto-max-bulk-len`` makes Redis reply with an error and close the
    connection while the client is still writing, so the client sees "connection reset" and
    would retry, each time the same. Only after such a failure, and only when a value is over
    1 MiB, this asks the server its limit (``CONFIG GET``); None when the values fit, or the
    server does not say (``CONFIG`` renamed away, or really unreachable).
    """
    largest = max(sizes, default=0)
    if largest <= _SMALLEST_BULK_LIMIT:
        return None
    try:
        reply = client.config_get("proto-max-bulk-len")
        limit = int(str(reply.get("proto-max-bulk-len") or 0))
    except (redis.RedisError, ValueError):
        return None
    if not limit or largest <= limit:
        return None
    return (f"Redis at {where} refused to publish: a message of {largest} bytes is larger than "
            f"the server's proto-max-bulk-len ({limit} bytes)")


class PinnedClients:
    """Clients on one pool that each keep a connection for good, one per hot path.

    redis-py checks a connection out of the pool and back for every command, which costs
    about as much as a small command itself on loopback. The hot paths (publish, fetch, ack,
    result store and read) each run on a connection of their own, named by purpose
    (``pins("ack")``). Each is thread-safe (redis-py locks a single-connection client) and
    made on first use.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pins: dict[str, redis.Redis] = {}
        self._lock = threading.Lock()

    def __call__(self, purpose: str) -> redis.Redis:
        pin = self._pins.get(purpose)
        if pin is None:
            with self._lock:
                pin = self._pins.get(purpose) or redis.Redis(
                    connection_pool=self._client.connection_pool, single_connection_client=True)
                self._pins[purpose] = pin
        return pin

    def close(self) -> None:
        with self._lock:
            pins, self._pins = list(self._pins.values()), {}
        for pin in pins:
            pin.close()


def pipelined(client: redis.Redis, *commands: tuple[Any, ...]) -> list[Any]:
    """Send ``commands`` in one write on a pinned client's connection; return every reply.

    For a caller that alone uses that pinned client: unlike a redis-py pipeline, no pool
    checkout. Error replies come back as exception objects; a connection error drops the
    connection (the next command reconnects) and is raised.
    """
    conn: Any = client.connection  # redis-py's Connection methods are untyped
    assert conn is not None, "pipelined() needs a client from PinnedClients"
    _reconnect_if_closed(conn)
    try:
        conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
    except BaseException:
        conn.disconnect()
        raise
    return replies


def _reconnect_if_closed(conn: Any) -> None:
    """Replace a connection the server closed while it sat idle (a restart), before sending.

    Nothing was sent on it, so reconnecting is safe, as redis-py's own retry would; what
    ``pipelined()`` must never do is send the same commands twice, because they may have run.
    One non-blocking poll of the socket (redis-py's ``can_read``); pending bytes nobody asked
    for also mean a connection out of step, replaced the same way.
    """
    try:
        stale = conn.can_read(timeout=0)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        stale = True
    if stale:
        conn.disconnect()


__all__ = [
    "PinnedClients",
    "RedisParams",
    "build_client",
    "describe",
    "oversize_refusal",
    "parse_url",
    "pipelined",
    "refusal",
]
