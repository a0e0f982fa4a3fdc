"""Broker and result-store URLs: parsing, and redaction for anything a human may read.

Passwords must never reach a log line, a repr or an error message (house style rule 10),
so every component that prints a URL goes through :func:`redact_url`. Parsing follows
kombu's ``url_to_parts`` exactly (the scheme is cut off and the rest parsed with HTTP
semantics), so a URL means the same thing to celeriac and to Celery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

from celeriac.exceptions import ImproperlyConfigured

#: What a password is replaced with; kombu's ``maybe_sanitize_url`` uses the same mask.
MASK: Final = "**"

#: Query parameters whose values are credentials (e.g. ``?password=`` on sentinel URLs).
_SECRET_QUERY_KEY: Final = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def redact_url(url: str) -> str:
    """Return ``url`` with every password (and secret query value) replaced by ``**``.

    Handles several URLs joined by ``';'`` (failover lists, sentinel hosts). Text that is
    not a URL, and URLs without a password, come back unchanged, so it is always safe to
    call on anything that might be a URL.
    """
    return ";".join(_redact_one(part) for part in url.split(";"))


def _redact_one(url: str) -> str:
    match = _SCHEME.match(url)
    if match is None:
        return url
    start = match.end()
    end = len(url)
    for stop in "?#":
        found = url.find(stop, start)
        if found != -1:
            end = min(end, found)
    # The credentials end at the *last* '@' before the query, not at the first '/': AWS
    # secrets contain '/', and a password pasted unquoted must still be masked.
    at = url.rfind("@", start, end)
    userinfo = url[start:at] if at != -1 else ""
    if ":" in userinfo:
        user, _, password = userinfo.partition(":")
        if password:
            return f"{url[:start]}{user}:{MASK}{url[at:end]}{_redact_query(url[end:])}"
    return url[:end] + _redact_query(url[end:])


def _redact_query(rest: str) -> str:
    path, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_, fragment = query.partition("#")
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        if equals and value and _SECRET_QUERY_KEY.search(key):
            value = MASK
        pairs.append(f"{key}{equals}{value}")
    return f"{path}?{'&'.join(pairs)}{hash_}{fragment}"


@dataclass(frozen=True, slots=True, repr=False)
class ParsedURL:
    """One URL split into parts, with the password kept out of ``repr`` and ``str``.

    ``repr`` omits the password and masks secret query values; ``str`` is the redacted URL.

    Attributes:
        scheme: Including any ``+`` prefix, e.g. ``'redis'``, ``'db+postgresql'``.
        host: Hostname, percent-decoded; ``None`` when absent (sockets, ``memory://``).
        port: ``None`` when absent: the transport applies its own default.
        username: Percent-decoded, ``None`` when absent.
        password: Percent-decoded, ``None`` when absent.
        path: The path after its first ``/``, percent-decoded: the AMQP vhost (``'/'`` for
            ``amqp://h//``), the Redis db number, a database name. ``None`` when empty.
        query: Query parameters (last one wins), values as strings.
    """

    scheme: str
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    path: str | None = None
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def vhost(self) -> str | None:
        """The AMQP virtual host, i.e. :attr:`path` (``None`` means the broker's default)."""
        return self.path

    @property
    def db(self) -> int | None:
        """The Redis database number from the path, ``None`` when the path has none.

        Raises:
            ImproperlyConfigured: the path is not a database number.
        """
        if self.path is None:
            return None
        number = self.path.strip("/")
        if not number.isdigit():
            raise ImproperlyConfigured(
                f"{self}: expected a database number after the host (e.g. /0), got {number!r}"
            )
        return int(number)

    def __str__(self) -> str:
        """The URL rebuilt with the password masked (safe for logs)."""
        auth = ""
        if self.username or self.password:
            auth = (self.username or "") + (f":{MASK}" if self.password else "") + "@"
        host = self.host or ""
        if host and ":" in host:
            host = f"[{host}]"  # IPv6 literal
        port = f":{self.port}" if self.port is not None else ""
        path = f"/{self.path}" if self.path is not None else ""
        query = "&".join(f"{key}={value}" for key, value in self.query.items())
        query = f"?{query}" if query else ""
        return redact_url(f"{self.scheme}://{auth}{host}{port}{path}{query}")

    def __repr__(self) -> str:
        query = {
            key: MASK if _SECRET_QUERY_KEY.search(key) else value
            for key, value in self.query.items()
        }
        return (
            f"ParsedURL(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r}, "
            f"username={self.username!r}, path={self.path!r}, query={query!r})"
        )


def scheme_of(url: str) -> str:
    """The URL's scheme (``db+sqlite`` for ``db+sqlite:///x.db``), lower-cased."""
    return url.split("://", 1)[0].lower() if "://" in url else url.lower()


def parse_url(url: str) -> ParsedURL:
    """Split one URL into its parts the way kombu does.

    Raises:
        ImproperlyConfigured: no ``scheme://``, or the port is not a number. The message
            carries the redacted URL only.
    """
    match = _SCHEME.match(url)
    if match is None:
        raise ImproperlyConfigured(
            f"{redact_url(url)!r} is not a URL: expected scheme://..., e.g. redis://localhost:6379/0"
        )
    scheme = url[: match.end() - 3]
    parts = urlsplit("http://" + url[match.end() :])
    try:
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{redact_url(url)!r} has an invalid port: use host:1-65535"
        ) from exc
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return ParsedURL(
        scheme=scheme,
        host=unquote(parts.hostname or "") or None,
        port=port,
        username=unquote(parts.username or "") or None,
        password=unquote(parts.password or "") or None,
        path=unquote(path) or None,
        query=MappingProxyType(dict(parse_qsl(parts.query))),
    )


def parse_urls(url: str) -> tuple[ParsedURL, ...]:
    """Parse a ``';'``-separated list of URLs (failover lists, sentinel hosts)."""
    return tuple(parse_url(part) for part in url.split(";") if part)


__all__ = ["MASK", "ParsedURL", "parse_url", "parse_urls", "redact_url", "scheme_of"]
