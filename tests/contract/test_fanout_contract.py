"""The ``FanoutChannel`` contract (``celeriac/transport/base.py``) and the pidbox round trip on
it, run on every transport that broadcasts: memory, SQLite, Redis and RabbitMQ.

Time only ever bounds a wait; no test asserts how long something took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celeriac.control.mailbox import Mailbox
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import FanoutChannel, Subscription, Transport
from celeriac.worker.control import ControlNode
from celeriac.worker.revoked import RevokedRegistry
from tests.worker.test_control_node import FakeWorker

DEADLINE = 10.0
EVENTS = "celeryev"
PIDBOX = "celery.pidbox"


def _event(kind: str) -> TaskMessage:
    return TaskMessage(headers={"hostname": "w1@test"}, properties={"delivery_mode": 1},
                       body=f'{{"type": "{kind}", "hostname": "w1@test"}}'.encode(),
                       content_type="application/json")


def _receive(subscription: Subscription, count: int) -> list[TaskMessage]:
    got: list[TaskMessage] = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count and time.monotonic() < deadline:
        got.extend(subscription.get(0.2))
    return got


def _fanout(transport: Transport) -> Any:
    channel = transport.channel()
    assert isinstance(channel, FanoutChannel)
    return channel


def test_every_subscriber_receives_a_broadcast(
        make_fanout_transport: Callable[..., Transport]) -> None:
    transport = make_fanout_transport()
    sender = _fanout(transport)
    first = _fanout(transport).subscribe(EVENTS, "#")
    second = _fanout(make_fanout_transport()).subscribe(EVENTS, "#")
    try:
        sender.broadcast(EVENTS, _event("worker-online"), "worker.online")
        for subscription in (first, second):
            (message,) = _receive(subscription, 1)
            assert message.headers["hostname"] == "w1@test"
            assert message.body == _event("worker-online").body
            assert message.content_type == "application/json"
            assert message.properties["delivery_mode"] == 1  # events are transient
    finally:
        first.close()
        second.close()


def test_a_subscription_sees_only_later_broadcasts(
        make_fanout_transport: Callable[..., Transport]) -> None:
    channel = _fanout(make_fanout_transport())
    channel.broadcast(EVENTS, _event("worker-early"), "worker.early")
    subscription = channel.subscribe(EVENTS, "#")
    try:
        channel.broadcast(EVENTS, _event("worker-late"), "worker.late")
        got = _receive(subscription, 1)
        assert [m.body for m in got] == [_event("worker-late").body]
        assert subscription.get(0.3) == []
    finally:
        subscription.close()


def test_a_pattern_selects_routing_keys(make_fanout_transport: Callable[..., Transport]) -> None:
    channel = _fanout(make_fanout_transport())
    workers = channel.subscribe(EVENTS, "worker.#")
    everything = channel.subscribe(EVENTS, "#")
    try:
        channel.broadcast(EVENTS, _event("task-multi"), "task.multi")
        channel.broadcast(EVENTS, _event("worker-heartbeat"), "worker.heartbeat")
        assert [m.body for m in _receive(everything, 2)] == [
            _event("task-multi").body, _event("worker-heartbeat").body]
        assert [m.body for m in _receive(workers, 1)] == [_event("worker-heartbeat").body]
        assert workers.get(0.3) == []
    finally:
        workers.close()
        everything.close()


def test_a_mailbox_call_is_answered_by_a_control_node(
        make_fanout_transport: Callable[..., Transport]) -> None:
    transport = make_fanout_transport()
    node = ControlNode(transport.channel(), FakeWorker("w1@contract", RevokedRegistry()),
                       poll_timeout=0.1)
    assert node.start()
    mailbox = Mailbox(transport.channel(), "contract-oid")
    try:
        assert mailbox.call("ping", timeout=DEADLINE, limit=1) == [
            {"w1@contract": {"ok": "pong"}}]
        assert mailbox.call("registered", destination=["w1@contract"], timeout=DEADLINE) == [
            {"w1@contract": ["proj.add", "proj.sleepy"]}]
        assert mailbox.call("ping", destination=["nobody@contract"], timeout=0.5) == []
    finally:
        mailbox.close()
        node.stop()
        node.channel.close()
