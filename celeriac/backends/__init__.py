"""Result-store resolution: a ``result_backend`` URL's scheme names the store class.

Like ``transport/__init__.py``, heavy clients are imported only when their scheme is used.
Every store class offers ``from_url(url, options)``. ``sqlite://`` without a path means "the
broker's file" when the broker is SQLite, so the zero-configuration setup keeps messages and
results in one file. Every ``db+<SQLAlchemy URL>`` (and Celery's ``database`` alias, with
``database_url``) is Celery's SQL store on Celery's tables (``backends/sql``). A class that
needs to know the broker (``rpc://`` replies travel on it) sets ``uses_broker_url = True``
and is built with ``from_url(url, options, broker_url=...)``. ``result_backend='cache'``
means the store ``cache_backend`` names, as in Celery.
"""

from __future__ import annotations

from typing import Final, cast

from celeriac.backends.base import ResultBackend
from celeriac.config.frozen import BackendOptions
from celeriac.config.urls import scheme_of
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.imports import import_alias

BACKEND_ALIASES: Final[dict[str, str]] = {
    "sqlite": "celeriac.backends.sqlite:SqliteBackend",
    "db": "celeriac.backends.sql.store:SqlBackend",
    "database": "celeriac.backends.sql.store:SqlBackend",
    "memory": "celeriac.backends.memory:MemoryBackend",
    "cache+memory": "celeriac.backends.memory:MemoryBackend",
    "redis": "celeriac.backends.redis:RedisBackend",
    "rediss": "celeriac.backends.redis:RedisBackend",
    "redis+socket": "celeriac.backends.redis:RedisBackend",
    "sentinel": "celeriac.backends.redis:RedisBackend",
    "rpc": "celeriac.backends.rpc:RpcBackend",
    "disabled": "celeriac.backends.disabled:DisabledBackend",
    "django-db": "celeriac.contrib.django.results.db_store:DjangoDbBackend",
    "django-cache": "celeriac.contrib.django.results.cache_store:DjangoCacheBackend",
    **dict.fromkeys(("cache+memcached", "cache+memcache", "cache+pymemcache", "cache+pylibmc"),
                    "celeriac.backends.memcached:MemcachedBackend"),
    "file": "celeriac.backends.filesystem:FilesystemBackend",
}

_SQLITE_SCHEMES: Final = frozenset({"sqlite"})


def _broker_file(broker_url: str | None) -> str | None:
    """The broker URL when it names a SQLite file, so results can share it."""
    if broker_url and scheme_of(broker_url) in ("sqlite", "sqla+sqlite"):
        return broker_url
    return None


def _cache_backend_url(options: BackendOptions) -> str:
    """``result_backend='cache'``: Celery's older spelling, the store named by
    ``cache_backend`` (``memcached://h:11211/`` or ``memory://``)."""
    if not options.cache_backend:
        raise ImproperlyConfigured(
            "result_backend='cache' needs cache_backend, e.g. 'memcached://127.0.0.1:11211/'")
    return "cache+" + options.cache_backend


def resolve_backend(
    url: str | None, options: BackendOptions, *, broker_url: str | None = None
) -> ResultBackend:
    """Build the result store ``url`` names; no URL (or ``disabled``) gives ``DisabledBackend``.

    Raises:
        ImproperlyConfigured: the scheme is unknown (with a "did you mean"), or the store's
            extra is not installed (with the pip command that installs it).
    """
    if not url:
        url = "disabled://"
    if scheme_of(url) == "cache":
        url = _cache_backend_url(options)
    scheme = scheme_of(url)
    if scheme.startswith("db+"):  # any SQLAlchemy URL: db+postgresql, db+mysql+pymysql...
        scheme = "db"
    cls = import_alias(scheme, BACKEND_ALIASES, "Result backend scheme")
    if scheme in _SQLITE_SCHEMES and url.split("://", 1)[1] in ("", "/"):
        url = _broker_file(broker_url) or url
    if getattr(cls, "uses_broker_url", False):
        backend = cls.from_url(url, options, broker_url=broker_url)
    else:
        backend = cls.from_url(url, options)
    backend.url = url  # Celery's ``backend.url`` / ``as_uri()`` (password masked there)
    return cast(ResultBackend, backend)


__all__ = ["BACKEND_ALIASES", "resolve_backend"]
