"""Celery's "First steps with Django" project, verbatim but for the import, on real
PostgreSQL with real ``celeriac -A proj worker`` processes (the Django fix-up end to end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from tests.databases import PG_HOST, PG_PORT, PG_USER, Database, postgres_database
from tests.django_project import CELERY_PY, DjangoProject, write_django_project
from tests.helpers import running_worker, wait_until

pytestmark = pytest.mark.slow

PERSISTENT = """
DATABASES['default']['CONN_MAX_AGE'] = None
DATABASES['default']['CONN_HEALTH_CHECKS'] = True
"""

#: A worker_init handler that queries in the worker itself, before the pool forks: the
#: children inherit that session's socket. It records the session for the test.
OPENS_BEFORE_FORK = """\
from celeriac import shared_task
from celeriac.signals import worker_init


@worker_init.connect
def query_before_fork(sender=None, **kwargs):
    import os
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('SELECT pg_backend_pid()')
        pid = cursor.fetchone()[0]
    with open(os.path.join(os.getcwd(), 'parent_session.txt'), 'w') as fh:
        fh.write(str(pid))


@shared_task
def shout(text):
    return text.upper()
"""


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated database for the module's projects (their settings differ, not tables)."""
    with postgres_database("fixup") as db:
        write_django_project(tmp_path_factory.mktemp("migrate"), db).manage("migrate", "-v", "0")
        yield db


def _client(project: DjangoProject) -> Celery:
    return Celery("client", broker=project.broker_url, backend=project.broker_url, fixups=())


def _call(client: Celery, name: str, *args: Any) -> Any:
    return client.send_task(name, args).get(timeout=30)


def _sessions(database: Database) -> list[int]:
    """The server processes serving ``database`` (the worker's sessions)."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                         autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                             (database.name,)).fetchall()
    return [row[0] for row in rows]


def _terminate_sessions(database: Database) -> int:
    """``pg_terminate_backend`` on every session of ``database``, as a server restart or an
    idle timeout would end them."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                         autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database.name,)).fetchall()
    return len(rows)


def _worker(project: DjangoProject, pool: str, *extra: str) -> Any:
    return running_worker(project.root, "-A", "proj", "worker", "-P", pool, "-c", "1",
                          "-l", "info", *extra, env=project.env)


@pytest.mark.parametrize("pool", ["solo", "prefork", "threads"])
def test_autodiscovered_tasks_of_every_app_run_with_the_orm(database: Database, tmp_path: Path,
                                                             pool: str) -> None:
    project = write_django_project(tmp_path, database)
    with _worker(project, pool) as worker:
        client = _client(project)
        assert _call(client, "demoapp.tasks.add", 2, 3) == 5
        assert _call(client, "otherapp.tasks.shout", "hi") == "HI"
        widget = _call(client, "demoapp.tasks.create_widget", f"widget-{pool}")
        _call(client, "demoapp.tasks.rename_widget", widget, f"renamed-{pool}")
        assert _call(client, "demoapp.tasks.widget_name", widget) == f"renamed-{pool}"
        assert _call(client, "demoapp.tasks.count_widgets") >= 1
        log = worker.log()
    for name in ("demoapp.tasks.add", "otherapp.tasks.shout", "proj.celery.debug_task"):
        assert f". {name}" in log
    assert "memory leak" not in log  # DEBUG is off


@pytest.mark.parametrize("packages", ["lambda: settings.INSTALLED_APPS",
                                      "['demoapp', 'otherapp']"])
def test_apps_listed_explicitly_are_imported_once_django_is_set_up(
        database: Database, tmp_path: Path, packages: str) -> None:
    """Older Celery docs list the apps; their task modules import models, which needs the
    app registry ready (today's failure was AppRegistryNotReady)."""
    celery_py = CELERY_PY.replace(
        "app.autodiscover_tasks()",
        f"from django.conf import settings\napp.autodiscover_tasks({packages})")
    project = write_django_project(tmp_path, database, extra_files={"proj/celery.py": celery_py})
    with _worker(project, "solo"):
        client = _client(project)
        assert _call(client, "demoapp.tasks.count_widgets") >= 0
        assert _call(client, "otherapp.tasks.shout", "ok") == "OK"


@pytest.mark.parametrize("pool", ["solo", "prefork"])
@pytest.mark.parametrize("settings", ["default", "persistent"])
def test_tasks_succeed_after_the_server_ended_the_workers_sessions(
        database: Database, tmp_path: Path, pool: str, settings: str) -> None:
    """Celery's fix-up closes stale connections around each task, so a session the server
    ended costs no task a failure; with CONN_MAX_AGE=None, the session is kept between tasks
    (and CONN_HEALTH_CHECKS finds it dead), as Django does for requests."""
    persistent = settings == "persistent"
    project = write_django_project(tmp_path, database,
                                   extra_settings=PERSISTENT if persistent else "")
    with _worker(project, pool):
        client = _client(project)
        first = _call(client, "demoapp.tasks.backend_pid")
        second = _call(client, "demoapp.tasks.backend_pid")
        assert (first == second) is persistent
        for _ in range(3):
            _terminate_sessions(database)
            for _ in range(2):
                assert _call(client, "demoapp.tasks.count_widgets") >= 0
                assert isinstance(_call(client, "demoapp.tasks.backend_pid"), int)


def test_prefork_child_lets_go_of_sessions_inherited_from_the_worker(database: Database,
                                                                     tmp_path: Path) -> None:
    """A session the worker opened before forking is the worker's: the child opens its own
    and leaves the worker's open (it closes its copy of the socket without a word)."""
    project = write_django_project(tmp_path, database, extra_settings=PERSISTENT,
                                   extra_files={"otherapp/tasks.py": OPENS_BEFORE_FORK})
    with _worker(project, "prefork") as worker:
        client = _client(project)
        child_session = _call(client, "demoapp.tasks.backend_pid")
        parent_session = int((tmp_path / "parent_session.txt").read_text())
        assert child_session != parent_session
        assert _call(client, "demoapp.tasks.backend_pid") == child_session  # persistent
        assert parent_session in _sessions(database), worker.log()


def test_debug_setting_and_system_checks_are_reported_at_worker_start(
        database: Database, tmp_path: Path) -> None:
    # Without DEFAULT_AUTO_FIELD, Django's checks warn about Widget's implicit primary key.
    project = write_django_project(tmp_path, database, debug=True,
                                   extra_settings="del DEFAULT_AUTO_FIELD\n")
    with _worker(project, "solo") as worker:
        assert _call(_client(project), "demoapp.tasks.add", 1, 1) == 2
        wait_until(lambda: "memory leak" in worker.log(), message="the DEBUG warning")
        assert "Django system check: demoapp.Widget: (models.W042)" in worker.log()


DELAY_ON_COMMIT = """\
import json
import os

import django

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')
django.setup()

from django.db import connection, transaction

from celeriac.signals import after_task_publish
from demoapp.models import Widget
from demoapp.tasks import widget_name

published = []


@after_task_publish.connect
def on_publish(sender=None, headers=None, **kwargs):
    published.append({'id': headers['id'], 'in_transaction': connection.in_atomic_block})


with transaction.atomic():
    committed = Widget.objects.create(name='committed')
    widget_name.delay_on_commit(committed.id)
    sent_before_commit = len(published)

try:
    with transaction.atomic():
        rolled_back = Widget.objects.create(name='rolled back')
        widget_name.apply_async_on_commit((rolled_back.id,), countdown=0)
        raise RuntimeError('roll back')
except RuntimeError:
    pass

print(json.dumps({'sent_before_commit': sent_before_commit, 'published': published,
                  'task_base': [cls.__name__ for cls in type(widget_name._task()).__mro__]}))
"""


def test_delay_on_commit_sends_after_commit_and_never_after_rollback(database: Database,
                                                                    tmp_path: Path) -> None:
    project = write_django_project(tmp_path, database)
    report = project.run_script("on_commit.py", DELAY_ON_COMMIT)
    assert "DjangoTask" in report["task_base"]
    assert report["sent_before_commit"] == 0
    assert len(report["published"]) == 1  # the rolled-back one was never sent
    assert report["published"][0]["in_transaction"] is False
    with _worker(project, "solo"):
        client = _client(project)
        result = client.AsyncResult(report["published"][0]["id"])
        assert result.get(timeout=30) == "committed"


RECORDS_IMPORT = """\
import os
import sys

from django.apps import apps

from celeriac import shared_task

with open(os.path.join(os.getcwd(), 'imported.txt'), 'a') as fh:
    command = 'beat' if 'beat' in sys.argv else 'other'
    fh.write(f'{command} ready={apps.ready}\\n')


@shared_task
def shout(text):
    return text.upper()
"""


def test_beat_sets_django_up_before_importing_task_modules(database: Database,
                                                          tmp_path: Path) -> None:
    """``celeriac -A proj beat`` imports every app's task modules too, once Django is set up
    (its tasks.py may import models)."""
    project = write_django_project(tmp_path, database,
                                   extra_files={"otherapp/tasks.py": RECORDS_IMPORT})
    record = tmp_path / "imported.txt"
    with running_worker(project.root, "-A", "proj", "beat", "-l", "info", "-s",
                        str(tmp_path / "schedule"), name="beat", env=project.env) as beat:
        wait_until(lambda: record.exists() and "ready=" in record.read_text(), timeout=30,
                   message="beat importing otherapp.tasks")
        assert beat.process.poll() is None, beat.log()
    assert record.read_text().splitlines() == ["beat ready=True"]
