"""The ``django-db`` and ``django-cache`` stores in the result-store contract suite.

The contract runs in this process, so Django is configured here, once per test process and
only when one of these factories is first used: a PostgreSQL database of its own
(``tests/databases.py``, dropped when the process exits), migrated, and a local-memory cache.
Every other Django test runs Django in a subprocess, so nothing else sees these settings.

Tests of one process share the database and cache one after another (xdist workers each have
their own): a store built here deletes every row of the app's tables, or clears the cache,
when it is closed at the end of its test, as the Redis factories delete their namespace.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

from celeriac.contrib.django.results.cache_store import DjangoCacheBackend
from celeriac.contrib.django.results.db_store import DjangoDbBackend
from tests.databases import postgres_database

_lock = threading.Lock()
_configured: list[bool] = []
_databases = contextlib.ExitStack()


def configure_django() -> None:
    """Configure and migrate Django for this process (once); skip without PostgreSQL."""
    with _lock:
        if _configured:
            return
        import django
        from django.conf import settings
        from django.core.management import call_command

        database = _databases.enter_context(postgres_database("djresults"))
        atexit.register(_close)
        settings.configure(
            DEBUG=False,
            SECRET_KEY="contract-" + uuid.uuid4().hex,
            USE_TZ=True,
            DATABASES={"default": database.django},
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                            "django.contrib.admin", "celeriac.contrib.django.results"],
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                "LOCATION": "contract-" + uuid.uuid4().hex}},
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        )
        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        _configured.append(True)


def _close() -> None:
    from django.db import connections

    connections.close_all()
    _databases.close()


class _CleanDjangoDb(DjangoDbBackend):
    """A ``django-db`` store that empties the app's tables when closed."""

    def close(self) -> None:
        for model in (self._models.TaskResult, self._models.GroupResult,
                      self._models.ChordCounter):
            model.objects.all().delete()
        super().close()


class _CleanDjangoCache(DjangoCacheBackend):
    """A ``django-cache`` store that clears its (this process's local-memory) cache."""

    def close(self) -> None:
        self.cache.clear()
        super().close()


def django_db_backend(env: Any) -> DjangoDbBackend:
    """Contract factory: ``env`` is the conftest's ``ContractEnv``."""
    configure_django()
    return _CleanDjangoDb(env.backend_options)


def django_cache_backend(env: Any) -> DjangoCacheBackend:
    configure_django()
    return _CleanDjangoCache(env.backend_options)


#: kind -> (store class, factory, runs the whole contract).
BACKEND_FACTORIES: dict[str, tuple[type[Any], Callable[[Any], Any], bool]] = {
    "django-db": (DjangoDbBackend, django_db_backend, True),
    "django-cache": (DjangoCacheBackend, django_cache_backend, True),
}

__all__ = ["BACKEND_FACTORIES", "configure_django"]
