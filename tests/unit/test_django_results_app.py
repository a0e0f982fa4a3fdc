"""``celeriac.contrib.django.results`` without Django set up: its one migration replaces every
migration ``django-celery-results`` ships, so a database that package migrated has nothing
left to apply (checked on PostgreSQL in ``tests/integration/test_django_results_switch.py``),
and the stores' names take no URL parts."""

from __future__ import annotations

import importlib
from pathlib import Path

import django_celery_results
import pytest

from celeriac.backends import resolve_backend
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured


def test_the_squashed_migration_replaces_each_migration_of_django_celery_results() -> None:
    migrations = Path(django_celery_results.__file__).parent / "migrations"
    shipped = sorted(path.stem for path in migrations.glob("0*.py"))
    squashed = importlib.import_module("celeriac.contrib.django.results.migrations."
                                       "0001_squashed_0014_alter_taskresult_status")
    assert squashed.Migration.replaces == [("django_celery_results", name) for name in shipped]


@pytest.mark.parametrize(("url", "chooser"), [
    ("django-db://localhost/results", "DATABASES"), ("django-cache://redis", "cache_backend")])
def test_the_stores_refuse_url_parts_django_settings_would_override(url: str,
                                                                    chooser: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"takes no host.*{chooser}"):
        resolve_backend(url, BackendOptions())
