"""Stamps end to end with an in-process worker (threads pool, memory:// broker and results):
every task of a stamped canvas sees its stamps in ``request.stamps``, including steps and a
chord body that the worker publishes itself, and ``revoke_by_stamped_headers`` makes the
worker refuse the matching tasks (REVOKED) while the others run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.canvas import StampingVisitor, chain, chord, group
from celeriac.worker import prefetcher
from tests.helpers import in_process_worker, wait_until

SEEN: dict[str, list[tuple[str, dict[str, Any]]]] = {}
LOCK = threading.Lock()
T = 20  # seconds per wait


class ByTask(StampingVisitor):
    """Stamps every signature with its own task name, and a chord body as such."""

    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"who": sig.task}

    def on_chord_body(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"part": "body"}


def _make_app() -> Celery:
    made = Celery(f"stampw_{uuid.uuid4().hex[:6]}", broker=f"memory://{uuid.uuid4().hex}",
                  backend=f"cache+memory://{uuid.uuid4().hex}", set_as_current=False)

    @made.task(name="s.record", bind=True)
    def record(self: Any, *args: Any, key: str = "") -> str:
        with LOCK:
            SEEN.setdefault(key, []).append((self.name, dict(self.request.stamps or {})))
        return str(args[-1]) if args else ""

    return made


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    monkeypatch.setattr(prefetcher, "FETCH_TIMEOUT", 0.05)
    made = _make_app()
    with in_process_worker(made, pool="threads", concurrency=2, hostname="stampw@test"):
        wait_until(lambda: made.control.ping(destination=["stampw@test"], timeout=0.5),
                   timeout=T, message="the worker to answer a ping")
        yield made
    made.close()


def test_revoke_by_stamped_headers(app: Celery) -> None:
    record = app.tasks["s.record"]
    replies = app.control.revoke_by_stamped_headers({"batch": ["bad", "worse"]},
                                                    destination=["stampw@test"], reply=True,
                                                    timeout=T)
    assert replies == [{"stampw@test": {
        "ok": "headers {'batch': ['bad', 'worse']} flagged as revoked, but not terminated"}}]
    doomed = group(record.s(i) for i in range(3))
    doomed.stamp(batch="worse")
    kept = group(record.s(i) for i in range(2))
    kept.stamp(batch="good")
    listed = record.s("listed")
    listed.stamp(batch=["other", "bad"])  # one value of a list stamp is enough
    results = [*doomed.apply_async().results, *kept.apply_async().results,
               listed.apply_async(), record.delay("plain")]
    wait_until(lambda: all(r.state in ("SUCCESS", "REVOKED") for r in results), timeout=T,
               message="every task to run or be revoked")
    assert [r.state for r in results] == ["REVOKED"] * 3 + ["SUCCESS"] * 2 + [
        "REVOKED", "SUCCESS"]


def test_stamps_reach_every_task_of_a_chord_of_chains(app: Celery) -> None:
    record = app.tasks["s.record"]
    key = uuid.uuid4().hex
    header = group(chain(record.s(1, key=key), record.s(key=key)),
                   chain(record.s(2, key=key), record.s(key=key)))
    canvas = chord(header, record.s(key=key))
    canvas.stamp(ByTask(), flow="f1")
    assert canvas.apply_async().get(timeout=T) == "['1', '2']"
    seen = SEEN[key]
    assert len(seen) == 5
    assert all(stamps["flow"] == "f1" and stamps["who"] == "s.record" for _, stamps in seen)
    assert sum(stamps.get("part") == "body" for _, stamps in seen) == 1


def test_a_worker_started_later_refuses_revoked_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond Celery: the revocation by stamp is also in the broker's revocation store."""
    monkeypatch.setattr(prefetcher, "FETCH_TIMEOUT", 0.05)
    made = _make_app()
    assert made.control.revoke_by_stamped_headers({"batch": "late"}) is None  # nobody there
    record = made.tasks["s.record"]
    doomed, kept = record.s("d"), record.s("k")
    doomed.stamp(batch="late")
    kept.stamp(batch="fine")
    results = [doomed.apply_async(), kept.apply_async()]
    with in_process_worker(made, pool="threads", concurrency=2, hostname="late@test"):
        wait_until(lambda: all(r.state in ("SUCCESS", "REVOKED") for r in results), timeout=T,
                   message="every task to run or be revoked")
        assert [r.state for r in results] == ["REVOKED", "SUCCESS"]
        assert made.control.inspect(destination=["late@test"], timeout=T).revoked() == {
            "late@test": []}  # stamp entries are not task ids
    made.close()


def test_eager_apply_sees_stamps_as_lists() -> None:
    """Celery's ``Task.apply`` gives each stamp as a list (its ``maybe_list``)."""
    made = _make_app()
    key = uuid.uuid4().hex
    sig = made.tasks["s.record"].s(1, key=key)
    sig.stamp(flow="f", tags=["a", "b"])
    sig.apply()
    assert SEEN[key] == [("s.record", {"flow": ["f"], "tags": ["a", "b"]})]
    made.close()
