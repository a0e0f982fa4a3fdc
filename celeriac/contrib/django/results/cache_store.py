"""``result_backend = 'django-cache'``: task results in Django's cache framework.

The cache is ``caches[cache_backend]`` (the Celery setting; Django's default cache when
unset), as ``django-celery-results`` chooses it. Keys are Celery's
(``celery-task-meta-<id>``, ``celery-taskset-meta-<gid>``), timeouts ``result_expires``.

Values are the records celeriac's key-value stores write (``result_serializer``,
``result_compression``: ``backends.record_codec``). ``django-celery-results`` instead puts the
record itself (a dict, exceptions as objects) in the cache, which pickles it: celeriac reads
such records too, but a Celery process cannot read celeriac's.

Declared: ``GROUPS``. Not declared: ``STORE_IF_NOT_FINAL`` and ``CHORDS``, which need an
atomic compare-and-set or counter that Django's cache API does not promise on every cache
(the database and file caches read and write in two steps). ``store`` still skips a record
that would overwrite a SUCCESS it reads first, but two writers racing can both write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

from django.core.cache import caches

from celeriac.backends.base import KeyValueBackend
from celeriac.backends.capabilities import Capability
from celeriac.config.frozen import BackendOptions
from celeriac.contrib.django.results.connections import ensure_django, refuse_url_parts
from celeriac.protocol.exception_codec import encode_exception
from celeriac.serialization.json_codec import json_dumps


class DjangoCacheBackend(KeyValueBackend):
    """Results in one of the project's Django caches."""

    persistent = True
    capabilities = frozenset({Capability.GROUPS})

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        ensure_django()
        self.alias = self.options.cache_backend or "default"
        self.cache: Any = caches[self.alias]

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """``django-cache`` (``django-cache://`` too); ``cache_backend`` names the cache."""
        refuse_url_parts(url, "the cache_backend setting names the Django cache")
        return cls(options)

    # -- key-value primitives ------------------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        return _as_bytes(self.cache.get(key))

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        found = self.cache.get_many(list(keys))
        return [_as_bytes(found.get(key)) for key in keys]

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        self.cache.set_many(dict(items), timeout=ttl)

    def _kv_delete(self, key: str) -> None:
        self.cache.delete(key)

    def __repr__(self) -> str:
        return f"<DjangoCacheBackend caches[{self.alias!r}]>"


def _as_bytes(value: Any) -> bytes | None:
    """A cached value as record bytes: celeriac's as they are; a record
    ``django-celery-results`` cached as a dict becomes JSON, its exception encoded as Celery's
    JSON serializer encodes exceptions."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        record = dict(value)
        if isinstance(record.get("result"), BaseException):
            record["result"] = encode_exception(record["result"])
        if isinstance(record.get("date_done"), datetime):  # Celery before 5.5
            record["date_done"] = record["date_done"].isoformat()
        return json_dumps(record)
    return json_dumps(value)  # not a record: decode_record reports it


__all__ = ["DjangoCacheBackend"]
