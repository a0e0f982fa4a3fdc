"""The ``file://`` result store: several processes on one directory, expiry, and real Celery.

The contract suite proves the store's behaviour in one process; these tests prove what is the
file store's own: processes racing on one directory (atomic files, the lock), expired files
cleaned up, Celery's URL spellings and directory check, and files real Celery's filesystem
backend reads and writes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.backends import resolve_backend
from celeriac.backends.chords import ChordPart
from celeriac.backends.filesystem import LOCK_NAME, FilesystemBackend, directory_of
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.result_meta import ResultMeta

WRITERS = 4
TASKS = 60


def _done(task_id: str, result: Any = 1) -> ResultMeta:
    return ResultMeta(task_id, states.SUCCESS, result)


def _race(directory: str, writer: int, barrier: Any) -> None:
    """One process: SUCCESS for its own share of the tasks, STARTED over everyone's, and one
    chord part per task (in a child process: plain module function)."""
    store = FilesystemBackend(directory, BackendOptions())
    join = store.chord_join()
    barrier.wait()
    for n in range(TASKS):
        tid = f"task-{n}"
        if n % WRITERS == writer:
            store.store([_done(tid, n)])
        else:
            store.store([ResultMeta(tid, states.STARTED)])
        if n % WRITERS == writer:
            claimed = join.add_parts([ChordPart(tid, "g", n, {}, states.SUCCESS, n)])
            for chord in claimed:
                Path(directory, f"claimed-by-{writer}").write_text(repr(chord.results))


def test_processes_racing_on_one_directory_keep_every_success_and_claim_a_chord_once(
        tmp_path: Path) -> None:
    directory = str(tmp_path)
    FilesystemBackend(directory).chord_join().set_size("g", TASKS)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    processes = [context.Process(target=_race, args=(directory, w, barrier))
                 for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    store = FilesystemBackend(directory)
    metas = store.get_many([f"task-{n}" for n in range(TASKS)])
    assert [meta.status for meta in metas] == [states.SUCCESS] * TASKS
    assert [meta.result for meta in metas] == list(range(TASKS))
    claims = sorted(tmp_path.glob("claimed-by-*"))
    assert len(claims) == 1
    expected = [(f"task-{n}", states.SUCCESS, n) for n in range(TASKS)]
    assert claims[0].read_text() == repr(expected)
    leftovers = [name for name in os.listdir(directory) if name.startswith(".tmp-")]
    assert leftovers == []


def test_expired_files_read_as_missing_and_are_cleaned_up(tmp_path: Path) -> None:
    store = FilesystemBackend(str(tmp_path), BackendOptions(expires=60))
    store.store([_done("old"), _done("new")])
    store.save_group("oldgroup", (("oldgroup", None), []))
    an_hour_ago = time.time() - 3600
    for name in ("celery-task-meta-old", "celery-taskset-meta-oldgroup"):
        os.utime(tmp_path / name, (an_hour_ago, an_hour_ago))
    (tmp_path / "unrelated.txt").write_text("not ours")
    os.utime(tmp_path / "unrelated.txt", (an_hour_ago, an_hour_ago))
    assert store.get("old").status == states.PENDING
    assert store.restore_group("oldgroup") is None
    assert store.get("new").status == states.SUCCESS
    store.cleanup()
    names = set(os.listdir(tmp_path))
    assert "celery-task-meta-old" not in names and "celery-taskset-meta-oldgroup" not in names
    assert {"celery-task-meta-new", "unrelated.txt"} <= names


def test_the_backend_cleanup_task_cleans_the_store(tmp_path: Path) -> None:
    app = Celery("cleanup", backend=f"file://{tmp_path}", set_as_current=False)
    app.conf.result_expires = 60
    try:
        app.backend.store([_done("old")])
        an_hour_ago = time.time() - 3600
        os.utime(tmp_path / "celery-task-meta-old", (an_hour_ago, an_hour_ago))
        app.tasks["celery.backend_cleanup"]()
        assert not (tmp_path / "celery-task-meta-old").exists()
    finally:
        app.close()


def test_urls_and_directory_checks_follow_celery(tmp_path: Path) -> None:
    assert directory_of(f"file://{tmp_path}") == str(tmp_path)
    assert directory_of(f"file://localhost{tmp_path}") == str(tmp_path)
    assert isinstance(resolve_backend(f"file://{tmp_path}", BackendOptions()), FilesystemBackend)
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        directory_of(f"file://{tmp_path / 'missing'}")
    with pytest.raises(ImproperlyConfigured, match="configure a path"):
        directory_of("file://")


def test_the_lock_file_is_the_only_file_of_the_store_besides_records(tmp_path: Path) -> None:
    store = FilesystemBackend(str(tmp_path), BackendOptions(
        keyvalue=BackendOptions().keyvalue.build({"global_keyprefix": "app"})))
    store.store([_done("t")])
    assert sorted(os.listdir(tmp_path)) == [LOCK_NAME, "app_celery-task-meta-t"]


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_real_celery_reads_celeriac_files_and_the_other_way_round(
        tmp_path: Path, serializer: str, compression: str | None) -> None:
    import celery

    conf = {"result_serializer": serializer, "result_compression": compression,
            "result_accept_content": ["json", "msgpack"]}
    app = celery.Celery("file-interop", backend=f"file://{tmp_path}")
    app.conf.update(conf)
    store = FilesystemBackend(str(tmp_path), BackendOptions(
        serializer=serializer, compression=compression, accept=("json", "msgpack")))
    try:
        store.store([_done("from-celeriac", {"n": [1, 2]})])
        assert app.AsyncResult("from-celeriac").get(timeout=5) == {"n": [1, 2]}
        app.backend.store_result("from-celery", [3, "x"], states.SUCCESS)
        meta = store.get("from-celery")
        assert (meta.status, meta.result) == (states.SUCCESS, [3, "x"])
        store.save_group("g", (("g", None), [(("from-celeriac", None), None)]))
        restored = app.GroupResult.restore("g")
        assert [child.id for child in restored.results] == ["from-celeriac"]
    finally:
        app.close()
