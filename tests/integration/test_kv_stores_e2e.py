"""The memcached and ``file://`` result stores under real ``celeriac worker`` processes.

The broker is a SQLite file of the test's own. Each store gets tasks, failures, a group and
chords whose header tasks run on two workers at once, one threaded and one prefork (every
body exactly once); memcached is
the suite's private server with a key prefix per test, the file store a fresh directory.
With ``result_backend_always_retry``, results a worker finishes while memcached is down are
stored once it is up (the same retry path as the Redis store's, see
``test_result_store_outage``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import ChordError
from celeriac.results.group_result import GroupResult
from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.memcached_server import MemcachedServer, require_suite_memcached

pytestmark = pytest.mark.slow

APP_SOURCE = """
import os
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend={results!r})
app.conf.update({settings!r})
HERE = os.path.dirname(os.path.abspath(__file__))


@app.task(name="proj.add")
def add(x, y):
    with open(os.path.join(HERE, "runs.txt"), "a") as fh:
        fh.write(f"{{x}}\\n")
    return x + y


@app.task(name="proj.boom")
def boom(*args):
    raise ValueError("boom")


@app.task(name="proj.body")
def body(values, tag):
    with open(os.path.join(HERE, "bodies.txt"), "a") as fh:
        fh.write(tag + "\\n")
    return values
"""


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], tuple[str, Any]]]:
    """``make_project(results, settings)``: a project module; its client app is closed after
    the test (the memcached store's pooled socket with it)."""
    apps: list[Any] = []

    def make(results: str, settings: dict[str, Any]) -> tuple[str, Any]:
        name = unique_name("kv_e2e")
        broker = f"sqlite:///{tmp_path / 'broker.db'}"
        (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(
            name=name, broker=broker, results=results, settings=settings))
        module: Any = import_app_module(tmp_path, name)
        apps.append(module.app)
        return name, module

    yield make
    for app in apps:
        app.close()


def _store(kind: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    if kind == "memcached":
        prefix = {"global_keyprefix": f"e2e-{uuid.uuid4().hex[:8]}:"}
        return require_suite_memcached().url(), {"result_backend_transport_options": prefix}
    directory = tmp_path / "results"
    directory.mkdir()
    return f"file://{directory}", {}


@pytest.mark.parametrize("kind", ["memcached", "file"])
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_tasks_groups_and_chords_on_two_workers(
        kind: str, serializer: str, tmp_path: Path,
        make_project: Callable[[str, dict[str, Any]], tuple[str, Any]]) -> None:
    from celeriac.canvas import chord, group

    results, settings = _store(kind, tmp_path)
    settings.update(result_serializer=serializer, result_extended=True,
                    result_compression="gzip" if serializer == "json" else None,
                    result_accept_content=["json", "msgpack"])
    name, mod = make_project(results, settings)
    args = ("-A", name, "worker", "-c", "3")
    with running_worker(tmp_path, *args, "-P", "threads", "-n", "a@%h", name="a"), \
            running_worker(tmp_path, *args, "-P", "prefork", "-n", "b@%h", name="b"):
        single = mod.add.delay(2, 3)
        assert single.get(timeout=30) == 5
        assert single.name == "proj.add" and single.args == [2, 3]  # result_extended
        with pytest.raises(ValueError, match="boom"):
            mod.boom.delay().get(timeout=30)
        saved = group(mod.add.s(i, i) for i in range(4)).apply_async()
        saved.save()
        restored = GroupResult.restore(str(saved.id), app=mod.app)
        assert restored is not None and restored.get(timeout=30) == [0, 2, 4, 6]
        tags = [uuid.uuid4().hex for _ in range(20)]
        chords = [chord([mod.add.s(i, j) for j in range(4)], mod.body.s(tag))()
                  for i, tag in enumerate(tags)]
        for i, result in enumerate(chords):
            assert result.get(timeout=60) == [i, i + 1, i + 2, i + 3]
        failing = chord([mod.add.s(1, 1), mod.boom.s()], mod.body.s("never"))()
        with pytest.raises(ChordError):
            failing.get(timeout=30, follow_parents=False)  # the body's own record
        bodies = tmp_path / "bodies.txt"
        wait_until(lambda: len(bodies.read_text().split()) >= 20, timeout=30,
                   message="20 bodies")
    counts = Counter(bodies.read_text().split())
    assert set(counts) == set(tags) and set(counts.values()) == {1}


def test_results_finished_while_memcached_is_down_are_stored_once_it_is_up(
        tmp_path: Path, make_project: Callable[[str, dict[str, Any]], tuple[str, Any]]) -> None:
    server = MemcachedServer()  # not started yet: the worker meets a store that is down
    settings = {"result_backend_always_retry": True,
                "result_backend_base_sleep_between_retries_ms": 10,
                "result_backend_max_sleep_between_retries_ms": 200,
                "cache_backend_options": {"connect_timeout": 0.5}}
    name, mod = make_project(server.url(), settings)
    try:
        with mod.app.publish_batch():
            results = [mod.add.delay(i, i) for i in range(20)]
        with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "2",
                            "-l", "info") as worker:
            wait_until(lambda: "Could not store" in worker.log()
                       or "unreachable" in worker.log(), 30,
                       message="the worker to meet the stopped store")
            server.start()
            assert [result.get(timeout=60) for result in results] == [2 * i for i in range(20)]
            log = worker.log()
        runs = (tmp_path / "runs.txt").read_text().split()
        assert sorted(int(n) for n in runs) == list(range(20))  # each task ran once
        assert "Traceback" not in log
    finally:
        server.stop()
