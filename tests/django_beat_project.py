"""A small Django project on a throw-away PostgreSQL database, for the database beat tests.

Django is only ever configured in the subprocesses these projects run (``manage.py``,
``celeriac beat``/``worker``, :func:`run_django`), never in the pytest process, which another
suite configures for itself. The project's task appends one line per run to ``runs.txt``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.databases import Database

SETTINGS = """
import os
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "celeriac-test"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages",
    {beat_app!r},
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {{"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages"]}},
}}]
ROOT_URLCONF = "{package}.urls"
DATABASES = {{"default": {database!r}}}
CELERY_BROKER_URL = "sqlite:///" + os.path.join(HERE, "broker.db")
CELERY_BEAT_SCHEDULE = {{
    "from-settings": {{"task": "{package}.record", "schedule": 3600.0, "args": ["settings"]}},
}}
"""

CELERY = """
import os
from celeriac import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
app = Celery("{package}")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="{package}.record")
def record(word):
    with open(os.path.join(HERE, "runs.txt"), "a") as fh:
        fh.write(word + "\\n")
"""

URLS = """
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""


@dataclass(frozen=True)
class BeatProject:
    """A written project: its folder, package name and database."""

    root: Path
    package: str
    database: Database

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root),
                "DJANGO_SETTINGS_MODULE": f"{self.package}.settings"}

    def runs(self) -> list[str]:
        path = self.root / "runs.txt"
        return path.read_text().splitlines() if path.exists() else []

    def manage(self, *args: str) -> str:
        """``django-admin <args>`` in the project; raises with the output when it fails."""
        return self._run([sys.executable, "-m", "django", *args])

    def run_django(self, code: str) -> str:
        """Run ``code`` after ``django.setup()`` in a fresh interpreter; returns its output."""
        script = "import django\ndjango.setup()\n" + textwrap.dedent(code)
        return self._run([sys.executable, "-c", script])

    def _run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise AssertionError(
                f"{argv[1:3]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout


def write_project(root: Path, package: str, database: Database,
                  beat_app: str = "celeriac.contrib.django.beat",
                  extra_settings: str = "") -> BeatProject:
    """Write ``<root>/<package>/`` (settings, celery app with task ``record``, admin urls);
    ``extra_settings`` is appended to the settings module."""
    folder = root / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("from .celery import app as celery_app\n")
    (folder / "settings.py").write_text(
        SETTINGS.format(package=package, database=database.django, beat_app=beat_app)
        + textwrap.dedent(extra_settings))
    (folder / "celery.py").write_text(CELERY.format(package=package))
    (folder / "urls.py").write_text(URLS)
    return BeatProject(root, package, database)
