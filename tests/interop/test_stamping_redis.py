"""Stamping and ``revoke_by_stamped_headers`` with real worker processes on Redis (db 9 of the
suite's own server), both ways with Celery 5.7.

* celeriac client -> ``celeriac worker``: a stamped group whose ``bad`` members are revoked
  by stamp and the others run (and see their stamps in ``request.stamps``); a chain whose
  second step alone carries the revoked stamp (the worker that ran the first step publishes
  it with its stamps, and the worker refuses it); a retry keeps its stamps.
* a Celery client stamps a group and revokes by stamp through Celery's own
  ``control.revoke_by_stamped_headers``; the ``celeriac worker`` honours both.
* a celeriac client stamps a group and revokes by stamp; a ``celery worker`` honours both
  (celeriac writes the ``stamped_headers``/``stamps`` headers where Celery reads them).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    WorkerProcess,
    close_celery_app,
    flushed_redis,
    import_app_module,
    running_worker,
    unique_name,
    wait_until,
)
from tests.integration.celery_worker import WAKEUP
from tests.integration.celery_worker import celery_worker as running_celery_worker
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.redis, pytest.mark.slow]
URL = suite_redis_url(9)
TO_CELERIAC = f"stamp.to_celeriac.{uuid.uuid4().hex[:6]}"
TO_CELERY = f"stamp.to_celery.{uuid.uuid4().hex[:6]}"

TASKS_SOURCE = """
{import_line}

app = Celery("{name}", broker="{url}", backend="{url}")
app.conf.broker_connection_retry_on_startup = True


@app.task(name="stamp.record", bind=True)
def record(self, label):
    return {{"label": label, "stamps": dict(self.request.stamps or {{}})}}


@app.task(name="stamp.flaky", bind=True, max_retries=3)
def flaky(self, label):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return {{"label": label, "stamps": dict(self.request.stamps or {{}}),
            "retries": self.request.retries}}
"""


def _write_side(directory: Path, flavour: str) -> str:
    name = unique_name(f"stamp_{flavour}")
    source = TASKS_SOURCE.format(import_line=f"from {flavour} import Celery", name=name, url=URL)
    (directory / f"{name}.py").write_text(source + (WAKEUP if flavour == "celery" else ""))
    return name


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    with flushed_redis(URL):
        directory = tmp_path_factory.mktemp("stamping")
        yield directory, _write_side(directory, "celeriac"), _write_side(directory, "celery")


@pytest.fixture(scope="module")
def celeriac_worker(sides: tuple[Path, str, str]) -> Iterator[tuple[WorkerProcess, str]]:
    directory, celeriac_side, _ = sides
    hostname = f"stampw-{uuid.uuid4().hex[:6]}@test"
    with running_worker(directory, "-A", celeriac_side, "worker", "-P", "solo", "-Q",
                        TO_CELERIAC, "-n", hostname, "-l", "info",
                        name="celeriac-stamp-worker") as worker:
        yield worker, hostname


@pytest.fixture(scope="module")
def celery_worker(sides: tuple[Path, str, str]) -> Iterator[tuple[WorkerProcess, str]]:
    directory, _, celery_side = sides
    name = unique_name("celery_stamp")
    with running_celery_worker(directory, celery_side, TO_CELERY, name=name) as worker:
        yield worker, f"{name}@{socket.gethostname()}"


@pytest.fixture(scope="module")
def celeriac_client(sides: tuple[Path, str, str]) -> Iterator[Any]:
    directory, celeriac_side, _ = sides
    module: Any = import_app_module(directory, celeriac_side)
    yield module
    module.app.close()


@pytest.fixture(scope="module")
def celery_client(sides: tuple[Path, str, str]) -> Iterator[Any]:
    directory, _, celery_side = sides
    module: Any = import_app_module(directory, celery_side)
    yield module
    close_celery_app(module.app)


def _revoke(app: Any, hostname: str, headers: dict[str, Any]) -> None:
    """Revoke by stamp and wait for the worker's answer (so it holds the stamps now)."""
    replies = app.control.revoke_by_stamped_headers(headers, destination=[hostname],
                                                    reply=True, timeout=10.0)
    assert replies and hostname in replies[0], replies
    assert "flagged as revoked" in replies[0][hostname]["ok"]


def _revoke_new(client: Any, hostname: str, name: str) -> str:
    """Revoke a fresh value of stamp ``name`` on ``hostname``; return the value."""
    value = f"{name}-{uuid.uuid4().hex[:6]}"
    _revoke(client.app, hostname, {name: value})
    return value


def _states(results: list[Any]) -> list[str]:
    wait_until(lambda: all(r.state in ("SUCCESS", "REVOKED", "FAILURE") for r in results),
               timeout=60, interval=0.1, message="every task to finish or be revoked")
    return [r.state for r in results]


def _doomed_and_kept(group_cls: Any, record: Any, name: str, batch: str,
                     queue: str) -> tuple[list[str], Any]:
    """Send a group stamped ``{name: batch}`` (revoked) and one stamped ``{name: "fine"}``;
    return every member's final state and the second group's result."""
    doomed = group_cls(record.s(f"b{i}") for i in range(3))
    doomed.stamp(**{name: batch})
    kept = group_cls(record.s(f"g{i}") for i in range(2))
    kept.stamp(**{name: "fine"})
    doomed_res = doomed.apply_async(queue=queue)
    kept_res = kept.apply_async(queue=queue)
    return _states([*doomed_res.results, *kept_res.results]), kept_res


def _ping(app: Any, hostname: str) -> None:
    wait_until(lambda: app.control.ping(destination=[hostname], timeout=0.5), timeout=60,
               message=f"{hostname} to answer a ping")


def test_group_revoked_by_stamp_on_celeriac_worker(
        celeriac_worker: tuple[WorkerProcess, str], celeriac_client: Any) -> None:
    from celeriac.canvas import group

    _, hostname = celeriac_worker
    batch = f"bad-{uuid.uuid4().hex[:6]}"
    app, record = celeriac_client.app, celeriac_client.record
    _ping(app, hostname)
    _revoke(app, hostname, {"batch": [batch, "other"]})
    states, kept = _doomed_and_kept(group, record, "batch", batch, TO_CELERIAC)
    assert states == ["REVOKED"] * 3 + ["SUCCESS"] * 2
    assert kept.get(timeout=10) == [{"label": "g0", "stamps": {"batch": "fine"}},
                                    {"label": "g1", "stamps": {"batch": "fine"}}]
    plain = record.apply_async(("plain",), queue=TO_CELERIAC)
    assert plain.get(timeout=10) == {"label": "plain", "stamps": {}}


def test_chain_step_stamp_travels_through_the_worker(
        celeriac_worker: tuple[WorkerProcess, str], celeriac_client: Any) -> None:
    from celeriac.canvas import chain

    stamp = _revoke_new(celeriac_client, celeriac_worker[1], "step")
    record = celeriac_client.record
    # the worker publishes the second step with that step's own options: its queue too
    second = record.si("second").set(queue=TO_CELERIAC)
    second.stamp(step=stamp)
    res = chain(record.si("first"), second).apply_async(queue=TO_CELERIAC)
    assert _states([res.parent, res]) == ["SUCCESS", "REVOKED"]


def test_retry_keeps_stamps(celeriac_worker: tuple[WorkerProcess, str],
                            celeriac_client: Any) -> None:
    sig = celeriac_client.flaky.s("again")
    sig.stamp(run="r1")
    res = sig.apply_async(queue=TO_CELERIAC)
    assert res.get(timeout=60) == {"label": "again", "stamps": {"run": "r1"}, "retries": 1}


def test_celery_client_stamps_read_by_celeriac_worker(
        celeriac_worker: tuple[WorkerProcess, str], celery_client: Any) -> None:
    batch = _revoke_new(celery_client, celeriac_worker[1], "cbatch")
    states, kept = _doomed_and_kept(celery.group, celery_client.record, "cbatch", batch,
                                    TO_CELERIAC)
    assert states == ["REVOKED"] * 3 + ["SUCCESS"] * 2
    assert [r["stamps"] for r in kept.get(timeout=10)] == [{"cbatch": "fine"}] * 2


def test_celeriac_client_stamps_read_by_celery_worker(
        celery_worker: tuple[WorkerProcess, str], celeriac_client: Any) -> None:
    from celeriac.canvas import group

    _ping(celeriac_client.app, celery_worker[1])
    batch = _revoke_new(celeriac_client, celery_worker[1], "kbatch")
    states, kept = _doomed_and_kept(group, celeriac_client.record, "kbatch", batch, TO_CELERY)
    assert states == ["REVOKED"] * 3 + ["SUCCESS"] * 2
    assert [r["stamps"] for r in kept.get(timeout=10)] == [{"kbatch": "fine"}] * 2
