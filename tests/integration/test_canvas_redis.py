"""Canvas on Redis (broker db 2, results db 3) with real ``celeriac worker`` processes.

Includes the acceptance check: 100 chords whose header tasks run on two workers at once,
each body run exactly once, and the Redis join keys left as Celery 5.7 leaves them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from celeriac.exceptions import ChordError
from tests.helpers import (
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.suite_redis import suite_redis_url

pytestmark = [pytest.mark.redis, pytest.mark.slow]
BROKER = suite_redis_url(2)
RESULTS = suite_redis_url(3)

APP_SOURCE = """
import os
from celeriac import Celery
from celeriac.canvas import register_builtins

app = Celery({name!r}, broker={broker!r}, backend={results!r})
register_builtins(app)
BODIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bodies.txt")


@app.task(name="proj.add")
def add(x, y):
    return x + y


@app.task(name="proj.mul")
def mul(x, y):
    return x * y


@app.task(name="proj.xsum")
def xsum(values):
    return sum(values)


@app.task(name="proj.boom")
def boom(*args):
    raise ValueError("boom")


@app.task(bind=True, name="proj.body")
def body(self, values, tag):
    with open(BODIES, "a") as fh:
        fh.write(tag + "\\n")
    return values
"""


@pytest.fixture
def dbs() -> Iterator[None]:
    with flushed_redis(BROKER), flushed_redis(RESULTS):
        yield


@pytest.fixture
def project(tmp_path: Path, dbs: None) -> tuple[Path, str, Any]:
    name = unique_name("canvas_redis")
    source = APP_SOURCE.format(name=name, broker=BROKER, results=RESULTS)
    (tmp_path / f"{name}.py").write_text(source)
    return tmp_path, name, import_app_module(tmp_path, name)


def test_chain_group_chord_on_redis(project: tuple[Path, str, Any]) -> None:
    workdir, name, mod = project
    from celeriac.canvas import chain, chord, chunks, group

    with running_worker(workdir, "-A", name, "worker", "-P", "threads", "-c", "4"):
        assert chain(mod.add.s(1, 2), mod.add.s(3), mod.mul.s(10))().get(timeout=30) == 60
        assert (mod.add.s(1, 1) | mod.mul.s(5)).delay().get(timeout=30) == 10
        grp = group(mod.add.s(i, i) for i in range(5)).apply_async()
        assert grp.get(timeout=30) == [0, 2, 4, 6, 8]
        grp.save()
        restored = grp.restore(str(grp.id), app=mod.app)
        assert restored is not None and restored.get(timeout=30) == [0, 2, 4, 6, 8]
        assert chord(mod.add.s(i, i) for i in range(5))(mod.xsum.s()).get(timeout=30) == 20
        failing = chord([mod.add.s(1, 1), mod.boom.s()], mod.xsum.s())()
        with pytest.raises(ChordError):
            failing.get(timeout=30, follow_parents=False)
        assert chunks(mod.add.s(), [(1, 1), (2, 2), (3, 3)], 2)().get(timeout=30) == [[2, 4], [6]]
    keys = [str(k, "utf-8") if isinstance(k, bytes) else k
            for k in redis.Redis.from_url(RESULTS).keys("celery-taskset-meta-*")]
    # As Celery 5.7: fired chords leave only ``.c`` ("done"); a failed one loses its size
    # (``.s``) so late copies cannot fail it again, and keeps its joined results until expiry.
    assert not [k for k in keys if k.endswith((".s", ".t"))]
    assert any(k.endswith(".c") for k in keys)


def test_chords_on_two_workers_fire_once(project: tuple[Path, str, Any]) -> None:
    workdir, name, mod = project
    from celeriac.canvas import chord

    args = ("-A", name, "worker", "-P", "threads", "-c", "4")
    with running_worker(workdir, *args, "-n", "a@%h", name="a"), \
            running_worker(workdir, *args, "-n", "b@%h", name="b"):
        tags = [uuid.uuid4().hex for _ in range(100)]
        results = [chord([mod.add.s(i, j) for j in range(4)], mod.body.s(tag))()
                   for i, tag in enumerate(tags)]
        for i, result in enumerate(results):
            assert result.get(timeout=60) == [i, i + 1, i + 2, i + 3]
        bodies = workdir / "bodies.txt"
        wait_until(lambda: len(bodies.read_text().split()) >= 100, timeout=30,
                   message="100 bodies")
    counts = Counter(bodies.read_text().split())
    assert set(counts) == set(tags)
    assert set(counts.values()) == {1}
