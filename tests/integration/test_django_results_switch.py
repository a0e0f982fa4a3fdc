"""Switching a project from ``django_celery_results`` to ``celeriac.contrib.django.results``.

Real PostgreSQL databases of their own, Django in subprocesses (``tests.django_results_project``):
the package's migrations and Celery's ``django-db`` backend write a project's tables; with
celeriac's app in their place, ``migrate`` has nothing to do, celeriac reads the stored
results and the admin shows them. A fresh database migrated by celeriac's app gets the same
schema, and switching back to the package is a no-op as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.databases import PG_HOST, PG_PORT, PG_USER, Database, postgres_database
from tests.django_results_project import CELERIAC_RESULTS, CELERY_RESULTS, DjangoResultsProject

pytestmark = pytest.mark.slow

SQUASHED = "0001_squashed_0014_alter_taskresult_status"

#: Celery 5 and django-celery-results store a success (extended), a failure and a group.
CELERY_WRITES = """
    import django, json
    django.setup()
    from celery import Celery
    from celery.app.task import Context
    app = Celery("proj", broker="memory://", backend="django-db")
    app.conf.result_extended = True
    request = Context(id="ok-1", task="proj.add", args=[1, 2], kwargs={}, argsrepr="(1, 2)",
                      kwargsrepr="{}", hostname="celery@old", periodic_task_name="every-minute",
                      delivery_info={"routing_key": "celery"}, group=None)
    app.backend.store_result("ok-1", {"sum": 3}, "SUCCESS", request=request)
    failed = Context(id="bad-1", task="proj.boom", args=[], kwargs={}, hostname="celery@old",
                     delivery_info={"routing_key": "celery"}, group=None)
    app.backend.mark_as_failure("bad-1", ValueError("bad input"), traceback="Traceback: x",
                                request=failed)  # (without a request, it drops the traceback)
    app.GroupResult("grp-1", [app.AsyncResult("ok-1"), app.AsyncResult("bad-1")]).save()
"""

#: celeriac reads them back through its AsyncResult and GroupResult.
CELERIAC_READS = """
    import json
    from celeriac import Celery, GroupResult
    app = Celery("proj", broker="memory://", backend="django-db")
    ok, bad = app.AsyncResult("ok-1"), app.AsyncResult("bad-1")
    try:
        bad.get(timeout=5)
    except ValueError as exc:
        failure = ["ValueError", str(exc)]
    group = GroupResult.restore("grp-1", app=app)
    print(json.dumps({"ok": ok.get(timeout=5), "state": ok.state, "name": ok.name,
                      "worker": ok.worker, "args": ok.args, "failure": failure,
                      "traceback": bad.traceback, "group": [r.id for r in group.results]}))
"""

#: The admin's task and group pages, as a logged-in superuser.
ADMIN_PAGES = """
    import django, json
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from celeriac.contrib.django.results.models import TaskResult
    user = User.objects.create_superuser("admin", "admin@example.com", "secret")
    client = Client()
    client.force_login(user)
    pages = {}
    for url in ["/admin/django_celery_results/taskresult/",
                "/admin/django_celery_results/taskresult/%d/change/"
                % TaskResult.objects.get(task_id="ok-1").pk,
                "/admin/django_celery_results/groupresult/"]:
        response = client.get(url)
        pages[url.split("/")[3] + ("-change" if "change" in url else "")] = [
            response.status_code, response.content.decode()]
    print(json.dumps(pages))
"""


def test_a_project_switched_to_celeriac_keeps_results_migrations_and_admin(
        tmp_path: Path) -> None:
    with postgres_database("djswitch") as database:
        project = DjangoResultsProject(tmp_path, database)
        old = project.settings(CELERY_RESULTS, "old")
        new = project.settings(CELERIAC_RESULTS, "new")
        project.manage(old, "migrate", "-v", "1")
        project.run(old, CELERY_WRITES)
        before = _schema(database)

        assert "No migrations to apply" in project.manage(new, "migrate", "-v", "1")
        assert f"[X] {SQUASHED}" in project.manage(new, "showmigrations", "django_celery_results")
        assert "No changes detected" in project.manage(
            new, "makemigrations", "--check", "--dry-run", "django_celery_results")
        assert _schema(database) == before

        read = json.loads(project.run(new, CELERIAC_READS))
        assert read == {"ok": {"sum": 3}, "state": "SUCCESS", "name": "proj.add",
                        "worker": "celery@old", "args": "(1, 2)",
                        "failure": ["ValueError", "bad input"], "traceback": "Traceback: x",
                        "group": ["ok-1", "bad-1"]}

        pages = json.loads(project.run(new, ADMIN_PAGES))
        assert pages["taskresult"][0] == 200 and "ok-1" in pages["taskresult"][1]
        assert "bad-1" in pages["taskresult"][1] and "every-minute" in pages["taskresult"][1]
        assert pages["taskresult-change"][0] == 200 and "proj.add" in pages["taskresult-change"][1]
        assert pages["groupresult"][0] == 200 and "grp-1" in pages["groupresult"][1]


def test_a_fresh_database_gets_the_packages_schema_and_can_switch_back(tmp_path: Path) -> None:
    with postgres_database("djfresh") as fresh, postgres_database("djold") as reference:
        ours = DjangoResultsProject(tmp_path, fresh)
        new, old = ours.settings(CELERIAC_RESULTS, "new"), ours.settings(CELERY_RESULTS, "old")
        ours.manage(new, "migrate", "-v", "1")
        theirs = DjangoResultsProject(tmp_path / "reference", reference)
        theirs.root.mkdir()
        theirs.manage(theirs.settings(CELERY_RESULTS, "old"), "migrate", "-v", "1")
        assert _schema(fresh) == _schema(reference)

        # Back to the package: every one of its migrations is recorded as applied.
        assert "No migrations to apply" in ours.manage(old, "migrate", "-v", "1")
        listed = ours.manage(old, "showmigrations", "django_celery_results")
        assert listed.count("[X]") == 14 and "[ ]" not in listed


def _schema(database: Database) -> dict[str, Any]:
    """The app's tables as PostgreSQL describes them: columns, indexes, constraints."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                         dbname=database.name) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length,"
            " column_default FROM information_schema.columns WHERE table_name LIKE"
            " 'django_celery_results_%' ORDER BY table_name, column_name").fetchall()
        indexes = connection.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename LIKE"
            " 'django_celery_results_%' ORDER BY indexname").fetchall()
        constraints = connection.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE conrelid::regclass::text LIKE"
            " 'django_celery_results_%' ORDER BY conname").fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}
