"""celeriac's one migration replaces every migration ``django-celery-results`` ships, so a
database that package migrated has nothing left to apply (checked on PostgreSQL in
``tests/integration/test_django_results_switch.py``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import django_celery_results


def test_the_squashed_migration_replaces_each_migration_of_django_celery_results() -> None:
    migrations = Path(django_celery_results.__file__).parent / "migrations"
    shipped = sorted(path.stem for path in migrations.glob("0*.py"))
    squashed = importlib.import_module("celeriac.contrib.django.results.migrations."
                                       "0001_squashed_0014_alter_taskresult_status")
    assert squashed.Migration.replaces == [("django_celery_results", name) for name in shipped]
