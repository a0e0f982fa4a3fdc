"""The ``django-db`` and ``django-cache`` stores against real services, Django in subprocesses
(``tests.django_results_project``): a dropped connection, racing writers, the columns each
serializer writes, and the cache ``cache_backend`` names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import postgres_database
from tests.django_results_project import CELERIAC_RESULTS, CELERY_RESULTS, DjangoResultsProject

pytestmark = pytest.mark.slow

DROPPED_CONNECTION = """
    import json, psycopg
    from django.db import connection
    from celeriac import Celery
    from celeriac.config.frozen import StoreRetryPolicy
    from celeriac.exceptions import OperationalError
    from celeriac.protocol.result_meta import ResultMeta, now_iso
    app = Celery("proj", broker="memory://", backend="django-db")
    store = app.backend
    store.store([ResultMeta("a", "SUCCESS", 1, date_done=now_iso())])
    pid = connection.cursor().connection.info.backend_pid
    settings = dict(connection.settings_dict)
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
                         dbname=settings["NAME"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    store.store([ResultMeta("b", "SUCCESS", 2, date_done=now_iso())])  # reconnects
    after = connection.cursor().connection.info.backend_pid
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        store.store([ResultMeta("c", "SUCCESS", 3, date_done=now_iso())])
    except OperationalError as exc:
        refused = str(exc)
        retried = StoreRetryPolicy(always_retry=True).may_retry(exc, 0)
    connection.close()
    connection.settings_dict["PORT"] = settings["PORT"]
    print(json.dumps({"results": [m.result for m in store.get_many(["a", "b", "c"])],
                      "reconnected": after != pid, "refused": refused, "retried": retried}))
"""

RACING_WRITERS = """
    import json, threading
    from celeriac import Celery
    from celeriac.protocol.result_meta import ResultMeta, now_iso
    app = Celery("proj", broker="memory://", backend="django-db")
    stores = [Celery("p%d" % i, broker="memory://", backend="django-db").backend
              for i in range(6)]
    outcomes = []
    for round in range(15):
        tid = "race-%d" % round
        start = threading.Barrier(6)
        def write(index):
            start.wait()
            status = ["SUCCESS", "STARTED", "RETRY", "FAILURE", "STARTED", "PROGRESS"][index]
            stores[index].store([ResultMeta(tid, status, index, date_done=now_iso())])
        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        outcomes.append(app.backend.get(tid).status)
    print(json.dumps(outcomes))
"""

COLUMNS = """
    import base64, django, json
    django.setup()
    from celeriac import Celery
    from celeriac.contrib.django.results.models import TaskResult
    from celeriac.protocol.result_meta import ResultMeta, now_iso
    rows = {}
    for serializer, compression in [("json", None), ("msgpack", None), ("json", "gzip")]:
        app = Celery("proj", broker="memory://", backend="django-db")
        app.conf.update(result_serializer=serializer, result_compression=compression,
                        result_accept_content=["json", "msgpack"])
        tid = serializer + str(compression)
        app.backend.store([ResultMeta(tid, "SUCCESS", {"n": [1, 2]}, date_done=now_iso(),
                                      group_id="g", parent_id="p")])
        row = TaskResult.objects.get(task_id=tid)
        raw = row.result if row.content_encoding == "utf-8" else base64.b64decode(row.result)
        rows[tid] = [row.content_type, row.content_encoding, str(raw[:20]),
                     app.backend.get(tid).result, app.backend.get(tid).group_id]
    print(json.dumps(rows))
"""

CELERY_CACHES = """
    import django
    django.setup()
    from celery import Celery
    app = Celery("old", broker="memory://", backend="django-cache")
    app.conf.cache_backend = "results"
    app.backend.mark_as_failure("celery-bad", ValueError("from celery"))
    app.backend.store_result("celery-ok", [1, "x"], "SUCCESS")
"""

CELERIAC_CACHES = """
    import json
    from django.core.cache import caches
    from celeriac import Celery
    from celeriac.protocol.result_meta import ResultMeta, now_iso
    app = Celery("proj", broker="memory://", backend="django-cache")
    app.conf.cache_backend = "results"
    app.backend.store([ResultMeta("ours", "SUCCESS", {"a": 1}, date_done=now_iso())])
    try:
        app.AsyncResult("celery-bad").get(timeout=5)
    except ValueError as exc:
        failure = str(exc)
    print(json.dumps({
        "ours": app.AsyncResult("ours").get(timeout=5),
        "celery": app.AsyncResult("celery-ok").get(timeout=5), "failure": failure,
        "in_results_cache": type(caches["results"].get("celery-task-meta-ours")).__name__,
        "in_default_cache": caches["default"].get("celery-task-meta-ours")}))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DjangoResultsProject]:
    with postgres_database("djstores") as database:
        project = DjangoResultsProject(tmp_path, database)
        project.manage(project.settings(CELERIAC_RESULTS, "new"), "migrate", "-v", "0")
        yield project


def test_a_dropped_connection_costs_no_write_and_an_unreachable_one_is_an_operational_error(
        project: DjangoResultsProject) -> None:
    seen = json.loads(project.run("settings_new", DROPPED_CONNECTION))
    assert seen["results"] == [1, 2, None] and seen["reconnected"]
    assert seen["retried"]  # result_backend_always_retry retries it
    assert seen["refused"].startswith(
        "Django database 'default' failed while trying to store results")


def test_a_success_is_never_overwritten_by_racing_writers(project: DjangoResultsProject) -> None:
    assert json.loads(project.run("settings_new", RACING_WRITERS)) == ["SUCCESS"] * 15


def test_each_serializer_writes_the_columns_django_celery_results_writes(
        project: DjangoResultsProject) -> None:
    rows = json.loads(project.run("settings_new", COLUMNS))
    expected = {"n": [1, 2]}
    assert rows["jsonNone"] == ["application/json", "utf-8", '{"n": [1, 2]}', expected, "g"]
    assert rows["msgpackNone"][:2] == ["application/x-msgpack", "binary"]
    assert rows["msgpackNone"][3:] == [expected, "g"]
    assert rows["jsongzip"][:2] == ["application/json", "binary"]
    assert rows["jsongzip"][2].startswith("b'\\x00celery-compressed\\x00")
    assert rows["jsongzip"][3:] == [expected, "g"]


def test_django_cache_uses_the_cache_backend_alias_and_reads_celerys_records(
        project: DjangoResultsProject) -> None:
    project.run(project.settings(CELERY_RESULTS, "old"), CELERY_CACHES)
    seen = json.loads(project.run("settings_new", CELERIAC_CACHES))
    assert seen == {"ours": {"a": 1}, "celery": [1, "x"], "failure": "from celery",
                    "in_results_cache": "bytes", "in_default_cache": None}
