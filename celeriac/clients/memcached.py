"""pymemcache clients for the memcached result store, built as Celery's cache backend builds them.

A URL names one or several servers the way Celery writes them:
``memcached://h1:11211;h2:11211/`` (``cache+`` in front in ``result_backend``). One server
gets a ``PooledClient``, several a ``HashClient`` (keys spread by rendezvous hashing), both
pooled so one store object is safe to share between threads (pymemcache's plain ``Client`` is
not). ``cache_backend_options`` are the client's keyword arguments over Celery's defaults
(replies awaited so a failed write raises; 5 s timeouts); Celery's ``retry_*`` keys wrap the
client in pymemcache's ``RetryingClient``, and pylibmc's ``behaviors``/``binary`` are dropped
with a warning, as Celery does.

Connection failures become ``OperationalError`` naming the servers, which the worker retries
per ``result_backend_always_retry`` (``config.frozen.RECOVERABLE_STORE_ERRORS``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient
from pymemcache.client.retrying import RetryingClient
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from celeriac.exceptions import ImproperlyConfigured, OperationalError

#: Celery's ``DEFAULT_CLIENT_OPTIONS`` (celery/backends/cache.py).
DEFAULT_CLIENT_OPTIONS: Final[Mapping[str, Any]] = {
    "default_noreply": False,
    "connect_timeout": 5.0,
    "timeout": 5.0,
}
_PYLIBMC_ONLY: Final = ("behaviors", "binary")
_RETRY_KEYS: Final = {"retry_attempts": "attempts", "retry_delay": "retry_delay",
                      "retry_for": "retry_for", "do_not_retry_for": "do_not_retry_for"}
#: Cache backend names Celery accepts for memcached (all served by pymemcache).
MEMCACHED_NAMES: Final = frozenset({"memcached", "memcache", "pymemcache", "pylibmc"})

T = TypeVar("T")


def parse_servers(url: str) -> list[str]:
    """``[cache+]memcached://h1:11211;h2:11211/`` -> ``["h1:11211", "h2:11211"]``.

    Raises:
        ImproperlyConfigured: no server, or credentials in the URL (memcached's text
            protocol has none; the message never repeats them).
    """
    scheme, sep, rest = url.partition("://")
    name = scheme.lower().removeprefix("cache+")
    if not sep or name not in MEMCACHED_NAMES:
        raise ImproperlyConfigured(
            f"{scheme!r} is not a memcached URL: expected cache+memcached://host:11211/")
    servers = [server for server in rest.rstrip("/").split(";") if server]
    if not servers:
        raise ImproperlyConfigured("No memcache servers provided in the memcached result store "
                                   "URL: expected cache+memcached://host:11211/")
    if any("@" in server for server in servers):
        raise ImproperlyConfigured(
            "The memcached result store URL holds credentials, which memcached does not use: "
            "give host:port only")
    return servers


def build_client(servers: list[str], options: Mapping[str, Any] | None = None) -> Any:
    """A thread-safe pymemcache client for ``servers`` with ``cache_backend_options``.

    Raises:
        ImproperlyConfigured: an option the client does not take.
    """
    kwargs = {**DEFAULT_CLIENT_OPTIONS, **(options or {})}
    for key in _PYLIBMC_ONLY:
        if kwargs.pop(key, None) is not None:
            warnings.warn(f"cache_backend_options[{key!r}] is only read by pylibmc; the "
                          "memcached result store (pymemcache) ignores it",
                          UserWarning, stacklevel=3)
    retry = {target: kwargs.pop(key) for key, target in _RETRY_KEYS.items() if key in kwargs}
    try:
        if len(servers) > 1:
            client: Any = HashClient(servers, use_pooling=True, **kwargs)
        else:
            client = PooledClient(servers[0], **kwargs)
        if retry.get("attempts") is not None:
            client = RetryingClient(client, **retry)
    except TypeError as exc:
        raise ImproperlyConfigured(f"cache_backend_options: {exc}") from exc
    return client


def describe(servers: list[str]) -> str:
    return "memcached://" + ";".join(servers) + "/"


def _is_outage(exc: BaseException) -> bool:
    """Errors that mean "the server cannot be reached now", not "this request is wrong"."""
    if isinstance(exc, OSError | MemcacheUnexpectedCloseError):
        return True
    # HashClient's "All servers seem to be down right now" is a bare MemcacheError.
    return type(exc) is MemcacheError


def guarded(where: str, what: str, fn: Callable[[], T]) -> T:
    """``fn()``, with a connection failure raised as ``OperationalError``."""
    try:
        return fn()
    except (OSError, MemcacheError) as exc:
        if not _is_outage(exc):
            raise
        raise OperationalError(
            f"Memcached result store at {where} is unreachable while trying to {what}: {exc}"
        ) from exc


__all__ = ["DEFAULT_CLIENT_OPTIONS", "MEMCACHED_NAMES", "build_client", "describe", "guarded",
           "parse_servers"]
