"""Celery's ``Backend`` methods (``backends.celery_api``) on every general result store: what
``app.backend.store_result(...)``, ``get_task_meta(...)``, ``mark_as_*`` and friends do is
the same whichever store holds the records."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from celeriac import states
from celeriac.backends.base import KeyValueBackend, ResultBackend
from celeriac.backends.capabilities import Capability
from celeriac.exceptions import TaskRevokedError


def _api(backend: ResultBackend) -> Any:
    """The store as custom code sees it (Celery's methods are not on the protocol type)."""
    return backend


def test_store_result_then_get_task_meta(backend: ResultBackend) -> None:
    api = _api(backend)
    stored = api.store_result("api-t1", {"x": [1, 2]}, states.SUCCESS)
    assert stored == {"x": [1, 2]}
    meta = api.get_task_meta("api-t1")
    assert meta["status"] == states.SUCCESS
    assert meta["result"] == {"x": [1, 2]}
    assert meta["task_id"] == "api-t1"
    assert meta["date_done"]
    assert api.get_state("api-t1") == api.get_status("api-t1") == states.SUCCESS
    assert api.get_result("api-t1") == {"x": [1, 2]}
    assert api.task_result_exists("api-t1")


def test_missing_task_meta_is_celerys_pending_dict(backend: ResultBackend) -> None:
    api = _api(backend)
    assert api.get_task_meta("api-missing") == {"status": states.PENDING, "result": None}
    assert not api.task_result_exists("api-missing")


def test_failure_comes_back_as_the_exception(backend: ResultBackend) -> None:
    api = _api(backend)
    api.mark_as_failure("api-f", KeyError("gone"), traceback="Traceback: here")
    result = api.get_result("api-f")
    assert isinstance(result, KeyError)
    assert result.args == ("gone",)
    assert api.get_traceback("api-f") == "Traceback: here"


def test_mark_as_started_retry_revoked_done(backend: ResultBackend) -> None:
    api = _api(backend)
    api.mark_as_started("api-s", pid=7, hostname="w1")
    assert api.get_task_meta("api-s")["result"] == {"pid": 7, "hostname": "w1"}
    api.mark_as_retry("api-s", ValueError("again"))
    assert api.get_state("api-s") == states.RETRY
    api.mark_as_done("api-s", 3)
    assert api.get_result("api-s") == 3
    api.mark_as_revoked("api-r", "by hand")
    assert isinstance(api.get_result("api-r"), TaskRevokedError)


def test_request_supplies_group_parent_and_extended_fields(make_backend: Any) -> None:
    api = make_backend(extended=True)
    request = SimpleNamespace(task="proj.add", args=[1, 2], kwargs={"k": 1}, hostname="w@h",
                              retries=2, delivery_info={"routing_key": "q1"},
                              group="g1", parent_id="p1", reply_to=None, chord=None)
    api.store_result("api-e", 3, states.SUCCESS, request=request)
    meta = api.get_task_meta("api-e")
    assert (meta["name"], meta["args"], meta["kwargs"], meta["worker"], meta["retries"],
            meta["queue"]) == ("proj.add", [1, 2], {"k": 1}, "w@h", 2, "q1")
    if isinstance(api, KeyValueBackend):  # Celery's SQL and Django tables have no such columns
        assert (meta["group_id"], meta["parent_id"]) == ("g1", "p1")


def test_mark_as_done_with_a_chord_request_warns_and_stores(backend: ResultBackend) -> None:
    api = _api(backend)
    with pytest.warns(UserWarning, match="chord"):
        api.mark_as_done("api-c", 1, request=SimpleNamespace(chord={"task": "x"}))
    assert api.get_result("api-c") == 1


def test_forget_and_encode_decode_round_trip(backend: ResultBackend) -> None:
    api = _api(backend)
    api.mark_as_done("api-g", 1)
    api.forget("api-g")
    assert api.get_state("api-g") == states.PENDING
    assert api.decode(api.encode({"a": [1, "b"]})) == {"a": [1, "b"]}
    assert api.exception_to_python(api.prepare_exception(ValueError("v"))).args == ("v",)
    assert api.exception_to_python(None) is None
    api.cleanup()
    api.process_cleanup()


def test_key_names_are_celerys_on_key_value_stores(backend: ResultBackend) -> None:
    if not isinstance(backend, KeyValueBackend):
        pytest.skip("Celery names keys on its key-value stores only")
    api = _api(backend)
    assert api.get_key_for_task("t") == b"celery-task-meta-t"
    assert api.get_key_for_group("g", key=".j") == b"celery-taskset-meta-g.j"
    assert api.get_key_for_chord("g") == b"chord-unlock-g"


def test_result_handles_over_the_store(backend: ResultBackend) -> None:
    """``AsyncResult``/``ResultSet`` hooks read the same on every store."""
    from celeriac.result import AsyncResult, GroupResult, ResultSet

    api = _api(backend)
    ids = [f"api-h{i}" for i in range(3)]
    for i, task_id in enumerate(ids):
        api.mark_as_done(task_id, i)
    messages: list[dict[str, Any]] = []
    calls: list[tuple[str, Any]] = []
    first = AsyncResult(ids[0], backend=backend)
    assert first.get(on_message=messages.append, on_interval=lambda: None,
                     callback=lambda tid, value: calls.append((tid, value))) == 0
    assert messages[0]["status"] == states.SUCCESS and calls == [(ids[0], 0)]
    assert first.exists() and not AsyncResult("api-none", backend=backend).exists()
    members = ResultSet([AsyncResult(i, backend=backend) for i in ids], backend=backend)
    seen: list[tuple[str, Any]] = []
    assert members.join(callback=lambda tid, value: seen.append((tid, value))) == []
    assert seen == [(task_id, i) for i, task_id in enumerate(ids)]
    assert members.join_native() == [0, 1, 2] and members.completed_count() == 3
    if Capability.GROUPS in backend.capabilities:
        group = GroupResult("api-grp", list(members), backend=backend)
        group.save()
        restored = GroupResult.restore("api-grp", backend=backend)
        assert restored is not None and restored.join() == [0, 1, 2]
        group.delete()
