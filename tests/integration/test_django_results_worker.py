"""``result_backend='django-db'`` end to end: a real ``celeriac worker`` stores results, chords
count on ``ChordCounter``, Celery's ``django-celery-results`` reads celeriac's rows, and a
dropped database connection costs no write. Django runs in subprocesses only
(``tests.django_results_project``), on a PostgreSQL database of the test's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import postgres_database
from tests.django_results_project import CELERIAC_RESULTS, CELERY_RESULTS, DjangoResultsProject
from tests.helpers import running_worker, unique_name

pytestmark = pytest.mark.slow

APP = """\
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend="django-db")
app.conf.result_extended = True


@app.task(name="djtasks.add")
def add(x, y):
    return x + y


@app.task(name="djtasks.xsum")
def xsum(values):
    return sum(values)


@app.task(name="djtasks.boom")
def boom():
    raise KeyError("missing")
"""

CLIENT = """
    import json
    from celeriac import chord
    from {name} import add, boom, xsum
    single = add.delay(2, 3)
    periodic = add.apply_async((1, 1), headers={{"periodic_task_name": "nightly"}})
    joined = chord([add.s(i, i) for i in range(5)])(xsum.s())
    failed = boom.delay()
    try:
        failed.get(timeout=60)
    except KeyError as exc:
        failure = repr(exc)
    print(json.dumps({{"single": single.get(timeout=60), "chord": joined.get(timeout=60),
                      "failure": failure, "name": single.name, "worker": single.worker,
                      "periodic": periodic.get(timeout=60),
                      "ids": [single.id, failed.id, periodic.id]}}))
"""

#: Celery's own django-db backend (django-celery-results installed) reads celeriac's rows.
CELERY_READS = """
    import django, json, sys
    django.setup()
    from celery import Celery
    from django_celery_results.models import ChordCounter, TaskResult
    app = Celery("reader", broker="memory://", backend="django-db")
    ok, bad, periodic = (app.backend.get_task_meta(tid) for tid in json.loads(sys.argv[1]))
    print(json.dumps({"ok": [ok["status"], ok["result"], ok["task_name"], ok["task_args"]],
                      "bad": [bad["status"], type(bad["result"]).__name__],
                      "counters": ChordCounter.objects.count(),
                      "periodic": TaskResult.objects.get(task_id=periodic["task_id"])
                      .periodic_task_name}))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DjangoResultsProject]:
    with postgres_database("djworker") as database:
        yield DjangoResultsProject(tmp_path, database)


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_worker_stores_results_and_chords_a_client_and_celery_read(
        project: DjangoResultsProject, pool: str) -> None:
    name = unique_name("djtasks")
    settings = project.settings(CELERIAC_RESULTS, "new")
    project.manage(settings, "migrate", "-v", "0")
    broker = f"sqlite:///{project.root / 'broker.db'}"
    (project.root / f"{name}.py").write_text(APP.format(name=name, broker=broker))
    with running_worker(project.root, "-A", name, "worker", "-P", pool, "-c", "3",
                        env={"DJANGO_SETTINGS_MODULE": settings}):
        read = json.loads(project.run(settings, CLIENT.format(name=name)))
    assert (read["single"], read["chord"]) == (5, 20)
    assert read["failure"] == "KeyError('missing')"
    assert (read["name"], read["worker"].split("@")[0]) == ("djtasks.add", "celeriac")

    old = project.settings(CELERY_RESULTS, "old")
    seen = json.loads(project.run(old, CELERY_READS, json.dumps(read["ids"])))
    assert seen == {"ok": ["SUCCESS", 5, "djtasks.add", [2, 3]],
                    "bad": ["FAILURE", "KeyError"], "counters": 0, "periodic": "nightly"}
