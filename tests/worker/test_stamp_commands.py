"""``revoke_by_stamped_headers`` on an in-process ``ControlNode`` (memory://): Celery's
arguments (a dict, or the shell's ``key=value`` list), its replies, ``terminate`` of the
running tasks whose stamps match, and the matching rule of Celery's ``Request.revoked``.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.control.revocations import parse_headers, stamp_entries
from celeriac.execution.request import Request
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Delivery
from celeriac.worker.control import ControlNode, TaskInfo
from celeriac.worker.revoked import RevokedRegistry
from celeriac.worker.revoked_stamps import (
    RevokedStamps,
    matching_stamps,
    revoked_by_stamp,
)
from tests.worker.test_control_node import FakeWorker, _node

HOST = "w1@test"


def _running(task_id: str, stamps: dict[str, Any]) -> TaskInfo:
    message = TaskMessage(headers={"id": task_id, "task": "proj.sleepy",
                                   "stamped_headers": list(stamps), "stamps": stamps},
                          properties={"delivery_info": {"routing_key": "celery"}},
                          body=b"[[], {}, {}]")
    request = Request(Delivery(message, "celery", "1"), "proj.sleepy", task_id, None, HOST)
    return TaskInfo(request, acknowledged=True, time_start=1.0, worker_pid=42)


@pytest.fixture
def setup() -> Iterator[tuple[Celery, ControlNode, FakeWorker]]:
    app = Celery("stampctl", broker=f"memory://stampctl-{uuid.uuid4().hex}",
                 set_as_current=False)
    node, view = _node(app, HOST)
    yield app, node, view
    node.stop()
    app.close()


def _ask(app: Celery, headers: Any, **options: Any) -> Any:
    replies = app.control.revoke_by_stamped_headers(headers, destination=[HOST], reply=True,
                                                    timeout=5.0, **options)
    assert replies is not None and len(replies) == 1
    return replies[0][HOST]


def test_flags_stamps_without_terminating(
        setup: tuple[Celery, ControlNode, FakeWorker]) -> None:
    app, _, view = setup
    assert _ask(app, {"batch": "b1"}) == {
        "ok": "headers {'batch': 'b1'} flagged as revoked, but not terminated"}
    assert _ask(app, ["batch=b2", "flow=f"]) == {  # the shell's form
        "ok": "headers {'batch': 'b2', 'flow': 'f'} flagged as revoked, but not terminated"}
    assert view.revoked.stamps.as_dict() == {"batch": ["b1", "b2"], "flow": ["f"]}
    assert view.calls == []


def test_terminate_hits_running_tasks_with_a_matching_stamp(
        setup: tuple[Celery, ControlNode, FakeWorker]) -> None:
    app, _, view = setup
    view.running = [_running("t1", {"batch": "bad"}), _running("t2", {"batch": ["x", "bad"]}),
                    _running("t3", {"batch": "good"}), _running("t4", {})]
    reply = _ask(app, {"batch": ["bad"]}, terminate=True, signal="SIGKILL")
    assert reply == {"ok": "headers {'batch': {'bad'}} revoked"}
    assert view.calls == [("terminate", ("t1", signal.SIGKILL)),
                          ("terminate", ("t2", signal.SIGKILL))]
    assert _ask(app, {"batch": "none"}, terminate=True) == {
        "ok": "headers {'batch': 'none'} were not terminated"}


@pytest.mark.parametrize(("revoked", "headers", "expected"), [
    ({"batch": ["a"]}, {"stamped_headers": ["batch"], "stamps": {"batch": "a"}}, {"batch": "a"}),
    ({"batch": ["a"]}, {"stamped_headers": ["batch"], "stamps": {"batch": ["z", "a"]}},
     {"batch": "a"}),
    ({"batch": ["a"]}, {"stamped_headers": ["batch"], "stamps": {"batch": "b"}}, None),
    ({"batch": ["a"]}, {"stamped_headers": [], "stamps": {"batch": "a"}}, None),  # not listed
    ({"batch": ["a"]}, {"stamped_headers": None, "stamps": None}, None),
    ({"batch": [1]}, {"stamped_headers": ["batch"], "stamps": {"batch": [{"un": "hash"}, 1]}},
     {"batch": 1}),
])
def test_matching_rule(revoked: dict[str, Any], headers: dict[str, Any],
                       expected: dict[str, Any] | None) -> None:
    stamps = RevokedStamps()
    stamps.add(revoked)
    assert stamps.match(headers) == expected


def test_helpers() -> None:
    assert parse_headers("a=1") == {"a": "1"}
    assert parse_headers({"a": ["1"]}) == {"a": ["1"]}
    assert matching_stamps({"stamps": {"a": ["1", "2"]}}, {"a": ["2", "3"], "b": "x"}) == {
        "a": {"2"}}
    assert not RevokedStamps()


def test_statedb_keeps_stamp_revocations(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    before = RevokedRegistry(statedb=path)
    before.add(stamp_entries({"batch": ["a", 2]}))
    before.save_state()
    after = RevokedRegistry(statedb=path)
    assert after.load_state() == 2
    message = {"stamped_headers": ["batch"], "stamps": {"batch": 2}}
    assert revoked_by_stamp(after, message) == {"batch": 2}
    assert revoked_by_stamp(after, {**message, "stamps": {"batch": "b"}}) is None
    assert after.ids() == []


def test_async_result_shortcut(setup: tuple[Celery, ControlNode, FakeWorker]) -> None:
    app, _, view = setup
    app.AsyncResult("any").revoke_by_stamped_headers({"batch": "r"}, wait=True, timeout=5.0)
    assert view.revoked.stamps.as_dict() == {"batch": ["r"]}
