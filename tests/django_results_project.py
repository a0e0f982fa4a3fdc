"""A throw-away Django project for the ``django-db``/``django-cache`` subprocess tests.

``DjangoResultsProject`` writes, in a test's directory, one settings module per results app
(``settings_<tag>.py``: the real ``django_celery_results`` or celeriac's
``celeriac.contrib.django.results``, the admin and what it needs, one database) and runs
Django there in a subprocess (``manage`` for management commands, ``run`` for a script), so
no Django state enters the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.databases import Database

CELERY_RESULTS = "django_celery_results"
CELERIAC_RESULTS = "celeriac.contrib.django.results"

_SETTINGS = """\
SECRET_KEY = "django-results-tests"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver"]
DATABASES = {{"default": {database!r}}}
INSTALLED_APPS = [
    "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
    "django.contrib.sessions", "django.contrib.messages", {results_app!r},
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {{"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]}},
}}]
ROOT_URLCONF = "results_urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CACHES = {{
    "default": {{"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                 "LOCATION": {cache_dir!r} + "/default"}},
    "results": {{"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                 "LOCATION": {cache_dir!r} + "/results"}},
}}
"""

_URLS = """\
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""


@dataclass
class DjangoResultsProject:
    """A project directory whose settings modules all use ``database``."""

    root: Path
    database: Database

    def settings(self, results_app: str, tag: str) -> str:
        """Write ``settings_<tag>.py`` with ``results_app`` installed; return its module."""
        module = f"settings_{tag}"
        (self.root / f"{module}.py").write_text(_SETTINGS.format(
            database=self.database.django, results_app=results_app,
            cache_dir=str(self.root / "cache")))
        (self.root / "results_urls.py").write_text(_URLS)
        return module

    def env(self, settings: str) -> dict[str, str]:
        return {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(self.root)}

    def manage(self, settings: str, *args: str) -> str:
        """``django-admin <args>`` under ``settings``; its output (fails the test on error)."""
        return self._run(settings, [sys.executable, "-m", "django", *args])

    def run(self, settings: str, source: str, *args: str) -> str:
        """Run a script (with ``sys.argv[1:]`` = ``args``) under ``settings``; it calls
        ``django.setup()`` if it needs Django."""
        return self._run(settings, [sys.executable, "-c", textwrap.dedent(source), *args])

    def _run(self, settings: str, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=self.root, env=self.env(settings), capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{argv[1:3]} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout


__all__ = ["CELERIAC_RESULTS", "CELERY_RESULTS", "DjangoResultsProject"]
