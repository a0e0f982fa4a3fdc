"""Pidbox message shapes (wire-protocol.md §6.1), topic matching and the revoked registry."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from celeriac.control.mailbox import (
    ControlRequest,
    LamportClock,
    build_reply,
    parse_reply,
    reply_queue_name,
)
from celeriac.control.revocations import NullRevocationStore
from celeriac.exceptions import InvalidMessage
from celeriac.protocol.message import TaskMessage
from celeriac.transport.sqlite.fanout import topic_matches
from celeriac.worker.control.commands import COMMANDS, signum_of
from celeriac.worker.revoked import RevokedRegistry


def test_command_body_has_celery_shape() -> None:
    request = ControlRequest(
        method="ping", arguments={}, ticket="t-1",
        reply_to={"exchange": "reply.celery.pidbox", "routing_key": "oid-1"},
        expires=123.5, clock=7,
    )
    message = request.to_message()
    assert json.loads(message.body) == {
        "method": "ping", "arguments": {}, "destination": None, "pattern": None,
        "matcher": None, "ticket": "t-1",
        "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "oid-1"},
    }
    assert message.headers == {"clock": 7, "expires": 123.5}
    assert message.properties["delivery_mode"] == 2
    assert message.content_type == "application/json"
    assert ControlRequest.from_message(message) == request


def test_command_without_reply_has_no_ticket_nor_reply_to() -> None:
    body = json.loads(ControlRequest("revoke", {"task_id": "x"}).to_message().body)
    assert "ticket" not in body and "reply_to" not in body


def test_celery_captured_command_parses() -> None:
    body = {"method": "ping", "arguments": {}, "destination": ["w1@host1"], "pattern": None,
            "matcher": None, "ticket": "6b99ce0a-1ae0-4be3-90b5-afea3777d390",
            "reply_to": {"exchange": "reply.celery.pidbox",
                         "routing_key": "95735448-0e10-31d8-ba5c-ddfbac68b2da"}}
    message = TaskMessage(headers={"clock": 1, "expires": time.time() + 5},
                          properties={}, body=json.dumps(body).encode())
    request = ControlRequest.from_message(message)
    assert request.addressed_to("w1@host1")
    assert not request.addressed_to("w2@host1")
    assert not request.expired()


def test_pattern_and_matcher_select_nodes() -> None:
    glob = ControlRequest("ping", pattern="w*@a")
    assert glob.addressed_to("w1@a") and not glob.addressed_to("x@a")
    pcre = ControlRequest("ping", pattern=r"w\d@a", matcher="pcre")
    assert pcre.addressed_to("w9@a") and not pcre.addressed_to("wx@a")


def test_expired_command_is_expired() -> None:
    assert ControlRequest("ping", expires=time.time() - 1).expired()


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"arguments": {}}',
                                  b'{"method": "ping", "arguments": []}'])
def test_malformed_commands_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidMessage):
        ControlRequest.from_message(TaskMessage(headers={}, properties={}, body=body))


def test_reply_shape() -> None:
    message = build_reply("w1@host1", "t-1", {"ok": "pong"}, 3)
    assert message.headers == {"ticket": "t-1", "clock": 3}
    assert message.properties["delivery_mode"] == 1
    assert parse_reply(message) == ("t-1", {"w1@host1": {"ok": "pong"}})
    assert reply_queue_name("oid") == "oid.reply.celery.pidbox"


def test_lamport_clock_adjusts_forward() -> None:
    clock = LamportClock()
    assert clock.forward() == 1
    assert clock.adjust(10) == 11
    assert clock.adjust(2) == 12


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("#", "", True), ("#", "worker.heartbeat", True), ("", "", True),
    ("worker.#", "worker.heartbeat", True), ("worker.#", "worker", True),
    ("worker.*", "worker.online", True), ("worker.*", "task.sent", False),
    ("*.sent", "task.sent", True), ("", "task.sent", False), ("a.#.z", "a.b.c.z", True),
])
def test_topic_matching(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_signal_names() -> None:
    assert signum_of(None) == signal.SIGTERM
    assert signum_of("SIGKILL") == signal.SIGKILL
    assert signum_of("KILL") == signal.SIGKILL
    assert signum_of(9) == 9
    with pytest.raises(ValueError):
        signum_of("SIGNOPE")


def test_handlers_cover_celery_commands() -> None:
    for name in ("ping", "stats", "active", "reserved", "scheduled", "registered", "revoked",
                 "active_queues", "conf", "revoke", "terminate", "rate_limit", "time_limit",
                 "shutdown", "report", "hello", "clock", "query_task"):
        assert name in COMMANDS


def test_registry_expires_and_bounds() -> None:
    registry = RevokedRegistry(NullRevocationStore(), maxlen=2)
    registry.add("a", expires=-1)
    assert "a" not in registry
    registry.add(["b", "c"])
    registry.add("d", expires=registry.expires * 2)
    assert len(registry) == 2 and "d" in registry
    assert registry.purge() == 0


def test_registry_statedb_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    first = RevokedRegistry(statedb=path)
    first.add(["x", "y"])
    first.add("gone", expires=-1)
    first.save_state()
    second = RevokedRegistry(statedb=path)
    assert second.load_state() == 2
    assert "x" in second and "y" in second and "gone" not in second


def test_registry_ignores_corrupt_statedb(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{nope")
    assert RevokedRegistry(statedb=str(path)).load_state() == 0
