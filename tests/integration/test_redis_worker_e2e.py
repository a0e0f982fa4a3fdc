"""Redis end to end with real ``celeriac worker`` processes (broker and results on db 7).

Each test is one acceptance behaviour of the Redis issue: a SIGKILLed worker's acks_late task
finishes elsewhere within seconds; a long task on a live worker is not handed out twice; ETA
tasks wait in Redis (not in a worker's memory), survive a worker restart and run once at their
time; malformed envelopes are set aside, listed and handled by the CLI; and a 2,000-task drain
by two workers runs every task once with the right result.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from celeriac.protocol.envelope import encode_envelope
from celeriac.protocol.task_message import build_v2
from tests.helpers import (
    CELERIAC,
    WorkerProcess,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.suite_redis import suite_redis_url

pytestmark = [pytest.mark.redis, pytest.mark.slow]
URL = suite_redis_url(7)
VISIBILITY_TIMEOUT = 3.0  # above the 2 s lease; the tests wait well past it

APP_SOURCE = """
import os, time
from celeriac import Celery

app = Celery({name!r}, broker={url!r}, backend={url!r})
app.conf.celeriac_lease_timeout = 2.0
app.conf.celeriac_lease_heartbeat = 0.5
app.conf.broker_transport_options = {{"visibility_timeout": {visibility}}}
app.conf.task_default_queue = {queue!r}
HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = os.path.join(HERE, "runs.txt")


def _append(line):
    with open(RUNS, "a") as fh:
        fh.write(line + "\\n")


@app.task
def add(x, y):
    return x + y


@app.task
def record(n):
    _append(str(n))
    return n * 2


@app.task(bind=True)
def stamp(self, label):
    now = time.time()
    _append(f"{{label}} {{now!r}} {{self.request.hostname}}")
    return now


@app.task(bind=True, acks_late=True)
def slow_on(self, host_prefix, marker, seconds):
    open(marker, "w").close()
    _append(f"slow {{self.request.hostname}}")
    if self.request.hostname.startswith(host_prefix):
        time.sleep(seconds)
    return self.request.hostname
"""


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    with flushed_redis(URL) as client:
        yield client


@pytest.fixture
def project(raw: redis.Redis, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A tmp task module on db 7 with its own default queue; closed after the test."""
    name = unique_name("redis_e2e")
    source = APP_SOURCE.format(name=name, url=URL, visibility=VISIBILITY_TIMEOUT, queue=f"q.{name}")
    (tmp_path / f"{name}.py").write_text(source)
    module: Any = import_app_module(tmp_path, name)
    yield name, module
    module.app.close()


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def worker_args(name: str, pool: str = "solo", *extra: str) -> tuple[str, ...]:
    return ("-A", name, "worker", "-P", pool, "-l", "info", *extra)


def wait_ready(worker: WorkerProcess, timeout: float = 30) -> None:
    wait_until(lambda: " ready." in worker.log(), timeout, message="the worker to be ready")


# -- SIGKILL under acks_late, and a long task on a live worker ------------------------------------
def test_sigkilled_acks_late_task_completes_on_another_worker_within_seconds(
    project: tuple[str, Any], tmp_path: Path
) -> None:
    name, mod = project
    marker = tmp_path / "started"
    with running_worker(
        tmp_path, *worker_args(name, "solo", "-n", "doomed@%h"), name="doomed"
    ) as doomed:
        result = mod.slow_on.delay("doomed@", str(marker), 120)
        wait_until(marker.exists, 30, message="the task to start on the doomed worker")
        with running_worker(
            tmp_path, *worker_args(name, "solo", "-n", "rescuer@%h"), name="rescuer"
        ) as rescuer:
            wait_ready(rescuer)
            doomed.kill()
            # celeriac_lease_timeout is 2 s: "within seconds", not after visibility_timeout.
            assert result.get(timeout=10).startswith("rescuer@")
    assert [line.split()[1].split("@")[0] for line in runs(tmp_path)] == ["doomed", "rescuer"]


def test_long_task_on_a_live_worker_is_not_handed_to_another(
    project: tuple[str, Any], tmp_path: Path
) -> None:
    """Longer than visibility_timeout (3 s) and the lease (2 s): the heartbeat keeps it."""
    name, mod = project
    marker = tmp_path / "started"
    with running_worker(tmp_path, *worker_args(name, "solo", "-n", "busy@%h"), name="busy"):
        result = mod.slow_on.delay("busy@", str(marker), VISIBILITY_TIMEOUT + 2)
        wait_until(marker.exists, 30, message="the task to start on the busy worker")
        with running_worker(tmp_path, *worker_args(name, "solo", "-n", "idle@%h"), name="idle"):
            assert result.get(timeout=30).startswith("busy@")
    assert runs(tmp_path) == [f"slow {result.get()}"]


# -- ETA / countdown beyond visibility_timeout -----------------------------------------------------
def _delayed_count(raw: redis.Redis) -> int:
    return sum(int(raw.zcard(key)) for key in raw.scan_iter(match="*celeriac.delayed*"))


def test_eta_beyond_visibility_timeout_waits_in_redis_and_runs_once(
    project: tuple[str, Any], tmp_path: Path, raw: redis.Redis
) -> None:
    """Scaled down from a 10-minute ETA: countdown 7 s with visibility_timeout 3 s. The ETA
    task of a celeriac client and of a real Celery client both wait in Redis (not unacked in a
    worker), survive the worker that received them being stopped, and run once at their time."""
    celery = pytest.importorskip("celery")
    name, mod = project
    countdown = 7.0
    celery_app = celery.Celery("eta_client", broker=URL, backend=URL)
    try:
        with running_worker(
            tmp_path, *worker_args(name, "solo", "-n", "first@%h"), name="first"
        ) as first:
            wait_ready(first)
            sent = time.time()
            mod.stamp.apply_async(("celeriac",), countdown=countdown)
            celery_app.send_task(
                f"{name}.stamp", ("celery",), countdown=countdown, queue=f"q.{name}"
            )
            wait_until(
                lambda: _delayed_count(raw) == 2, 10, message="both ETA tasks to wait in Redis"
            )
            assert raw.hlen("unacked") == 0  # nothing held unacked by the worker
        assert _delayed_count(raw) == 2  # a stopped worker held nothing of them
        with running_worker(tmp_path, *worker_args(name, "solo", "-n", "second@%h"), name="second"):
            wait_until(
                lambda: len(runs(tmp_path)) >= 2, countdown + 10, message="both ETA tasks to run"
            )
            # Watch past the point where a visibility_timeout redelivery would have happened.
            quiet_until = sent + countdown + VISIBILITY_TIMEOUT + 1
            wait_until(
                lambda: time.time() > quiet_until or len(runs(tmp_path)) > 2,
                quiet_until - time.time() + 5,
                message="the observation window",
            )
    finally:
        celery_app.close()
    lines = [line.split() for line in runs(tmp_path)]
    assert sorted(label for label, _, _ in lines) == ["celeriac", "celery"]
    for label, ran, host in lines:
        assert host.startswith("second@"), (label, host)
        assert abs(float(ran) - (sent + countdown)) <= 1.5, (label, float(ran) - sent)
    assert _delayed_count(raw) == 0 and raw.hlen("unacked") == 0


# -- malformed envelopes ---------------------------------------------------------------------------
def _envelope(queue: str, task: str, args: list[Any], serializer: str = "json") -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    message = build_v2(
        task_name=task,
        task_id=task_id,
        args=args,
        kwargs={},
        serializer=serializer,
        origin="test@host",
    )
    return json.loads(encode_envelope(message, exchange="", routing_key=queue))  # type: ignore[no-any-return]


def _bad_envelopes(queue: str, record_task: str) -> dict[str, bytes]:
    """Five kinds of bad envelope, keyed by a fragment of the reason each must be listed with.
    Every decodable one targets ``record`` with argument 999, so a run would show in the file."""
    no_headers = _envelope(queue, record_task, [999])
    del no_headers["headers"]
    bad_b64 = _envelope(queue, record_task, [999])
    bad_b64["body"] = "%%% not base64 %%%"
    unknown = _envelope(queue, "no.such.task", [999])
    pickled = _envelope(queue, record_task, [999])
    pickled["content-type"] = "application/x-python-serialize"
    pickled["content-encoding"] = "binary"
    pickled["body"] = base64.b64encode(pickle.dumps(((999,), {}, {}), protocol=2)).decode()
    return {
        "not valid JSON": b"{this is not json",
        "'headers' is missing": json.dumps(no_headers).encode(),
        "base64": json.dumps(bad_b64).encode(),
        "unknown task": json.dumps(unknown).encode(),
        "refused content": json.dumps(pickled).encode(),
    }


def cli(tmp_path: Path, name: str, *args: str) -> str:
    done = subprocess.run(
        [CELERIAC, "-A", name, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bad_envelopes_are_set_aside_listed_requeued_and_purged(
    project: tuple[str, Any], tmp_path: Path, raw: redis.Redis
) -> None:
    name, mod = project
    queue = f"q.{name}"
    bad = _bad_envelopes(queue, f"{name}.record")
    started = time.time()
    raw.lpush(queue, *bad.values())  # LPUSH + consumer RPOP: served first, in this order
    with running_worker(tmp_path, *worker_args(name)) as worker:
        assert mod.record.delay(1).get(timeout=20) == 2  # the worker kept consuming
        channel = mod.app.transport.channel()
        try:
            wait_until(lambda: len(channel.dead_letters()) == 5, 10, message="five dead letters")
        finally:
            channel.close()
        assert worker.process.poll() is None
    assert runs(tmp_path) == ["1"]  # none of the bad ones ran
    listing = cli(tmp_path, name, "deadletter", "list").splitlines()
    assert len(listing) == 5, listing
    for line in listing:  # "<id>  <ISO time>  queue=<q>  reason: <why>"
        assert datetime.fromisoformat(line.split()[1]).timestamp() >= started - 1, line
    for fragment in bad:
        assert any(fragment in line and f"queue={queue}" in line for line in listing), (
            fragment,
            listing,
        )
    unknown_id = next(line.split()[0] for line in listing if "unknown task" in line)
    assert "Requeued 1 message(s)." in cli(tmp_path, name, "deadletter", "requeue", unknown_id)
    assert raw.llen(queue) == 1
    assert json.loads(raw.lindex(queue, 0))["headers"]["task"] == "no.such.task"  # type: ignore[arg-type]
    assert len(cli(tmp_path, name, "deadletter", "list").splitlines()) == 4
    assert "Deleted 4 set-aside message(s)." in cli(tmp_path, name, "deadletter", "purge")
    assert cli(tmp_path, name, "deadletter", "list").strip() == "No messages set aside."


# -- drain ---------------------------------------------------------------------------------------
def test_two_workers_drain_2000_tasks_each_once_with_results(
    project: tuple[str, Any], tmp_path: Path
) -> None:
    name, mod = project
    total = 2000
    with mod.app.publish_batch():
        results = [mod.record.delay(i) for i in range(total)]
    with (
        running_worker(tmp_path, *worker_args(name, "solo", "-n", "a@%h"), name="a") as first,
        running_worker(
            tmp_path, *worker_args(name, "threads", "-c", "4", "-n", "b@%h"), name="b"
        ) as second,
    ):
        values = [r.get(timeout=60) for r in results]
        assert first.process.poll() is None and second.process.poll() is None
    assert values == [2 * i for i in range(total)]
    assert sorted(int(n) for n in runs(tmp_path)) == list(range(total))
