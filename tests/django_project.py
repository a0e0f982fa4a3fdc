"""A Django project laid out as Celery's "First steps with Django" writes it, for tests.

``write_django_project`` writes, into a folder of the test's own::

    manage.py
    proj/__init__.py      from .celery import app as celery_app
    proj/celery.py        Celery's text verbatim, but for ``from celeriac import Celery``
    proj/settings.py      DATABASES from a ``tests.databases.Database``; the broker and result
                          store as CELERY_* settings; ``extra_settings`` appended
    proj/urls.py
    demoapp/              Celery's example app: a ``Widget`` model, its migration, tasks.py
    otherapp/             a second app with a tasks.py, so discovery of several apps shows

Other Django tests build on it: ``extra_apps`` adds apps to ``INSTALLED_APPS`` (a package of
celeriac's, say) and ``extra_files`` adds or replaces files (a task module, a driver script).
Nothing here imports Django: the project runs in subprocesses (``manage``, ``run_script``,
``tests.helpers.running_worker``), so the test process's own Django state is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.databases import Database

#: ``proj/proj/celery.py`` of Celery's "First steps with Django", import changed.
CELERY_PY = """\
import os

from celeriac import Celery

# Set the default Django settings module for the 'celery' program.
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')

app = Celery('proj')

# Using a string here means the worker doesn't have to serialize
# the configuration object to child processes.
# - namespace='CELERY' means all celery-related configuration keys
#   should have a `CELERY_` prefix.
app.config_from_object('django.conf:settings', namespace='CELERY')

# Load task modules from all registered Django apps.
app.autodiscover_tasks()


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f'Request: {self.request!r}')
"""

PROJ_INIT_PY = """\
# This will make sure the app is always imported when
# Django starts so that shared_task will use this app.
from .celery import app as celery_app

__all__ = ('celery_app',)
"""

MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys

if __name__ == '__main__':
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""

SETTINGS_PY = """\
SECRET_KEY = 'celeriac-tests-only'
DEBUG = {debug!r}
ALLOWED_HOSTS = ['*']
USE_TZ = True
TIME_ZONE = 'UTC'
ROOT_URLCONF = 'proj.urls'
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
INSTALLED_APPS = {installed_apps!r}
DATABASES = {{'default': {database!r}}}

CELERY_BROKER_URL = {broker_url!r}
CELERY_RESULT_BACKEND = {result_backend!r}
CELERY_TIMEZONE = 'UTC'
"""

URLS_PY = """\
urlpatterns = []
"""

#: Celery's example app (examples/django/demoapp), import changed, plus two tasks that report
#: the database session they ran on.
DEMOAPP_FILES = {
    "demoapp/__init__.py": "",
    "demoapp/apps.py": """\
        from django.apps import AppConfig


        class DemoappConfig(AppConfig):
            name = 'demoapp'
        """,
    "demoapp/models.py": """\
        from django.db import models


        class Widget(models.Model):
            name = models.CharField(max_length=140)
        """,
    "demoapp/migrations/__init__.py": "",
    "demoapp/migrations/0001_initial.py": """\
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name='Widget',
                    fields=[
                        ('id', models.AutoField(auto_created=True, primary_key=True,
                                                serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=140)),
                    ],
                ),
            ]
        """,
    "demoapp/tasks.py": """\
        # Create your tasks here

        from demoapp.models import Widget

        from celeriac import shared_task


        @shared_task
        def add(x, y):
            return x + y


        @shared_task
        def mul(x, y):
            return x * y


        @shared_task
        def xsum(numbers):
            return sum(numbers)


        @shared_task
        def count_widgets():
            return Widget.objects.count()


        @shared_task
        def rename_widget(widget_id, name):
            w = Widget.objects.get(id=widget_id)
            w.name = name
            w.save()


        @shared_task
        def create_widget(name):
            return Widget.objects.create(name=name).id


        @shared_task
        def widget_name(widget_id):
            return Widget.objects.get(id=widget_id).name


        @shared_task
        def backend_pid():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute('SELECT pg_backend_pid()')
                return cursor.fetchone()[0]
        """,
}

OTHERAPP_FILES = {
    "otherapp/__init__.py": "",
    "otherapp/tasks.py": """\
        from celeriac import shared_task


        @shared_task
        def shout(text):
            return text.upper()
        """,
}

DEFAULT_APPS = ("django.contrib.contenttypes", "django.contrib.auth", "demoapp", "otherapp")


@dataclass(frozen=True)
class DjangoProject:
    """A written project: its folder, and how to run things in it."""

    root: Path
    database: Database
    broker_url: str

    @property
    def env(self) -> dict[str, str]:
        """The environment of the project's processes: the project folder importable, and
        no ``DJANGO_SETTINGS_MODULE`` of the caller's (``proj/celery.py`` sets its own)."""
        env = {key: value for key, value in os.environ.items()
               if key != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root),
                                                          os.environ.get("PYTHONPATH")]))
        return env

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run ``manage.py <args>``; return its output; fail the test if it fails."""
        return _run([sys.executable, "manage.py", *args], self, timeout)

    def run_script(self, name: str, source: str, timeout: float = 120) -> Any:
        """Write ``name`` (a Python script) into the project and run it; the script prints
        one JSON document as its last line of output, which is returned decoded."""
        (self.root / name).write_text(textwrap.dedent(source))
        output = _run([sys.executable, name], self, timeout)
        return json.loads(output.strip().splitlines()[-1])


def _run(argv: Sequence[str], project: DjangoProject, timeout: float) -> str:
    done = subprocess.run(argv, cwd=project.root, env=project.env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done.stdout


def write_django_project(
    root: Path,
    database: Database,
    *,
    broker_url: str | None = None,
    result_backend: str | None = None,
    extra_apps: Sequence[str] = (),
    extra_settings: str = "",
    extra_files: Mapping[str, str] | None = None,
    debug: bool = False,
) -> DjangoProject:
    """Write the project into ``root`` (created if missing) and return it.

    The broker and result store default to an SQLite file in ``root`` (``celeriac.db``).
    ``extra_files`` maps paths relative to ``root`` to (dedented) contents.
    """
    root.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{root / 'celeriac.db'}"
    broker_url = broker_url or store
    settings = SETTINGS_PY.format(
        debug=debug, installed_apps=[*DEFAULT_APPS, *extra_apps], database=database.django,
        broker_url=broker_url, result_backend=result_backend or store)
    files = {
        "manage.py": MANAGE_PY,
        "proj/__init__.py": PROJ_INIT_PY,
        "proj/celery.py": CELERY_PY,
        "proj/settings.py": settings + textwrap.dedent(extra_settings),
        "proj/urls.py": URLS_PY,
        **DEMOAPP_FILES,
        **OTHERAPP_FILES,
        **(extra_files or {}),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return DjangoProject(root, database, broker_url)


__all__ = ["CELERY_PY", "DjangoProject", "write_django_project"]
