"""``AsyncResult.get(follow_parents=True)`` (``celeriac/results/parents.py``), on a memory store.

A failed parent's exception is raised before the result's own, before waiting, while waiting
and after; ``follow_parents=False`` (or ``propagate=False``) looks at the result alone.
Records are written straight into the store: no worker runs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery, states
from celeriac.exceptions import ChordError, TaskRevokedError, TimeoutError
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta
from celeriac.results.async_result import AsyncResult
from celeriac.results.group_result import GroupResult


@pytest.fixture
def app() -> Iterator[Celery]:
    made = Celery("proj", broker=f"memory://{uuid.uuid4().hex}",
                  backend=f"cache+memory://{uuid.uuid4().hex}", set_as_current=False)
    yield made
    made.close()


def _store(app: Celery, task_id: str, status: str, value: object) -> None:
    result = encode_exception(value) if isinstance(value, BaseException) else value
    app.backend.store([ResultMeta(task_id, status, result)])


def _with_parent(app: Celery, parent: AsyncResult | GroupResult) -> AsyncResult:
    child = app.AsyncResult(uuid.uuid4().hex)
    child.parent = parent  # type: ignore[assignment]  # a chord body's parent is a group
    return child


def test_a_failed_header_task_wins_over_the_bodys_chord_error(app: Celery) -> None:
    header = GroupResult(uuid.uuid4().hex, [app.AsyncResult(uuid.uuid4().hex) for _ in range(3)],
                         app=app)
    _store(app, header.results[0].id, states.SUCCESS, 1)
    _store(app, header.results[1].id, states.FAILURE, KeyError("first"))
    _store(app, header.results[2].id, states.FAILURE, ValueError("second"))
    body = _with_parent(app, header)
    _store(app, body.id, states.FAILURE, ChordError("Dependency raised"))
    with pytest.raises(KeyError, match="first"):
        body.get(timeout=5)
    with pytest.raises(ChordError):
        body.get(timeout=5, follow_parents=False)
    assert isinstance(body.get(timeout=5, propagate=False), ChordError)


def test_the_root_is_checked_first(app: Celery) -> None:
    root, middle = app.AsyncResult(uuid.uuid4().hex), app.AsyncResult(uuid.uuid4().hex)
    middle.parent = root
    _store(app, root.id, states.FAILURE, ValueError("root"))
    _store(app, middle.id, states.FAILURE, KeyError("middle"))
    with pytest.raises(ValueError, match="root"):
        _with_parent(app, middle).get(timeout=5)


def test_a_parent_revoked_while_waiting_ends_the_wait(app: Celery) -> None:
    """Nothing fails a revoked step's followers: only the parents tell (as in Celery)."""
    parent = app.AsyncResult(uuid.uuid4().hex)
    child = _with_parent(app, parent)
    revoke = threading.Timer(0.2, _store, (app, parent.id, states.REVOKED,
                                           TaskRevokedError("revoked")))
    revoke.start()
    try:
        with pytest.raises(TaskRevokedError):
            child.get(timeout=30)
    finally:
        revoke.cancel()
    with pytest.raises(TimeoutError):
        _with_parent(app, parent).get(timeout=0.2, follow_parents=False)


def test_healthy_parents_are_read_once(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = app.AsyncResult(uuid.uuid4().hex)
    child = _with_parent(app, parent)
    _store(app, parent.id, states.SUCCESS, 1)
    _store(app, child.id, states.SUCCESS, 2)
    reads: list[list[str]] = []
    get_many = app.backend.get_many

    def counting(task_ids: list[str]) -> list[ResultMeta]:
        reads.append(list(task_ids))
        return get_many(task_ids)

    monkeypatch.setattr(app.backend, "get_many", counting)
    assert child.get(timeout=5) == 2
    assert child.get(timeout=5) == 2
    assert reads == [[parent.id]]  # the ready parent is cached after the first read
