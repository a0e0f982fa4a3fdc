"""``EventReceiver`` on the in-process memory broker: decoding, handlers, clock, capture loop.

The messages are built here as Celery's worker puts them on the wire (wire-protocol.md §6.2:
JSON body, ``hostname`` header, a single event or a ``task.multi`` list), so decoding is
checked against Celery's format rather than against celeriac's own dispatcher; one test also
goes through ``EventDispatcher``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.receiver import EventReceiver, adjust_timestamp, decode_events
from celeriac.exceptions import DecodeError, ImproperlyConfigured
from celeriac.protocol.message import TaskMessage


def wire(body: Any, content_type: str = "application/json") -> TaskMessage:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return TaskMessage(headers={"hostname": "w1@host"}, properties={"delivery_mode": 1},
                       body=data, content_type=content_type)


def celery_event(type_: str, clock: int = 7, **fields: Any) -> dict[str, Any]:
    return {"hostname": "w1@host", "utcoffset": 0.0, "pid": 4242, "clock": clock, **fields,
            "timestamp": time.time(), "type": type_}


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("events-unit", broker=f"memory://events-{uuid.uuid4().hex}")
    yield app
    app.close()


@pytest.fixture
def channel(app: Celery) -> Iterator[Any]:
    channel = app.transport.channel()
    yield channel
    channel.close()


def broadcast(channel: Any, body: Any, routing_key: str = "task.multi") -> None:
    channel.broadcast("celeryev", wire(body), routing_key)


def test_single_event_goes_to_its_handler_others_to_the_catch_all(app: Celery,
                                                                   channel: Any) -> None:
    got: dict[str, list[dict[str, Any]]] = {"succeeded": [], "*": []}
    receiver = EventReceiver(channel, app=app, handlers={
        "task-succeeded": got["succeeded"].append, "*": got["*"].append})
    with receiver:
        receiver.subscribe()
        broadcast(channel, celery_event("task-succeeded", uuid="u1", result="5"),
                  "task.succeeded")
        broadcast(channel, celery_event("worker-heartbeat", freq=2.0), "worker.heartbeat")
        receiver.capture(limit=2, wakeup=False)
    assert [e["uuid"] for e in got["succeeded"]] == ["u1"]
    assert [e["type"] for e in got["*"]] == ["worker-heartbeat"]
    event = got["succeeded"][0]
    assert abs(event["local_received"] - time.time()) < 60
    assert receiver.clock.value > 7  # moved past the sender's clock


def test_a_task_multi_list_is_every_event_in_order(app: Celery, channel: Any) -> None:
    seen: list[str] = []
    receiver = EventReceiver(channel, app=app, handlers={"*": lambda e: seen.append(e["type"])})
    batch = [celery_event("task-received", 3, uuid="u2", name="proj.add"),
             celery_event("task-started", 4, uuid="u2"),
             celery_event("task-succeeded", 5, uuid="u2", result="5", runtime=0.1)]
    with receiver:
        receiver.subscribe()
        broadcast(channel, batch)
        received = next(receiver.itercapture(wakeup=False))
    assert seen == ["task-received", "task-started", "task-succeeded"]
    assert [e["uuid"] for e in received] == ["u2", "u2", "u2"]


def test_decode_events_accepts_one_or_a_list_and_refuses_the_rest() -> None:
    accept = frozenset({"application/json"})
    assert len(decode_events(wire(celery_event("task-started", uuid="x")), accept)) == 1
    assert len(decode_events(wire([celery_event("task-started", uuid="x")] * 3), accept)) == 3
    with pytest.raises(DecodeError):
        decode_events(wire({"no": "type"}), accept)
    with pytest.raises(DecodeError):
        decode_events(wire(b"{not json"), accept)


def test_unreadable_messages_are_skipped_with_a_warning(app: Celery, channel: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    receiver = EventReceiver(channel, app=app, handlers={"*": lambda e: seen.append(e["uuid"])})
    with receiver, caplog.at_level(logging.WARNING, "celeriac.events.receiver"):
        receiver.subscribe()
        channel.broadcast("celeryev", wire(b"\x80\x00", "application/x-python-serialize"),
                          "task.multi")
        broadcast(channel, b"[1, 2]")
        broadcast(channel, celery_event("task-started", uuid="ok"), "task.started")
        receiver.capture(limit=3, wakeup=False)
    assert seen == ["ok"]
    assert "Refusing to deserialize" in caplog.text and "not an event" in caplog.text


def test_clock_and_time_zone_handling(app: Celery) -> None:
    receiver = EventReceiver(app.transport, app=app)
    try:
        _, event = receiver.event_from_message(celery_event("worker-heartbeat", clock=50))
        assert event["clock"] == 50 and receiver.clock.value == 51
        # task-sent comes from a client that never syncs: filed just before our clock.
        _, sent = receiver.event_from_message(celery_event("task-sent", clock=9999))
        assert sent["clock"] == 50 and receiver.clock.value == 52
        _, blind = receiver.event_from_message({**celery_event("task-started"), "clock": None})
        assert blind["clock"] == 53
        # A sender 2 hours west of here stamps its local time; we see ours.
        _, west = receiver.event_from_message(
            {**celery_event("worker-online"), "utcoffset": 2.0, "timestamp": 10_000.0})
        assert west["timestamp"] == adjust_timestamp(10_000.0, 2.0)
        assert adjust_timestamp(10_000.0, 2.0, here=0.0) == 10_000.0 - 7200
        _, kept = receiver.event_from_message(
            {**celery_event("worker-online"), "utcoffset": 2.0, "timestamp": 5.0},
            localize=False)
        assert kept["timestamp"] == 5.0
    finally:
        receiver.close()


def test_routing_key_pattern_selects_events(app: Celery, channel: Any) -> None:
    seen: list[str] = []
    receiver = EventReceiver(channel, app=app, routing_key="worker.#",
                             handlers={"*": lambda e: seen.append(e["type"])})
    with receiver:
        receiver.subscribe()
        broadcast(channel, [celery_event("task-started", uuid="u")])
        broadcast(channel, celery_event("worker-online", freq=2.0), "worker.online")
        receiver.capture(limit=1, wakeup=False)
    assert seen == ["worker-online"]


def test_timeout_raises_when_idle_and_should_stop_ends_capture(app: Celery) -> None:
    receiver = EventReceiver(None, app=app)
    with receiver:
        with pytest.raises(TimeoutError):
            receiver.capture(timeout=0.2, wakeup=False)
        threading.Timer(0.1, lambda: setattr(receiver, "should_stop", True)).start()
        receiver.capture(wakeup=False)  # returns once should_stop is set


def test_wakeup_broadcasts_a_heartbeat_command(app: Celery, channel: Any) -> None:
    pidbox = channel.subscribe("celery.pidbox", "")
    try:
        with EventReceiver(channel, app=app) as receiver:
            receiver.wakeup_workers()
        messages = pidbox.get(2.0)
    finally:
        pidbox.close()
    bodies = [json.loads(m.body) for m in messages]
    assert [b["method"] for b in bodies] == ["heartbeat"]
    assert "reply_to" not in bodies[0]  # Celery's heartbeat wants no reply


def test_events_from_a_celeriac_dispatcher(app: Celery, channel: Any) -> None:
    seen: list[dict[str, Any]] = []
    receiver = EventReceiver(channel, app=app, handlers={"*": seen.append})
    dispatcher = EventDispatcher(channel, "w9@host", buffer_group={"task"})
    with receiver:
        receiver.subscribe()
        dispatcher.send("task-received", uuid="d1", name="proj.add", args="()", kwargs="{}")
        dispatcher.send("task-succeeded", uuid="d1", result="1", runtime=0.0)
        dispatcher.flush()
        dispatcher.send("worker-heartbeat", freq=2.0, active=0, processed=1)
        receiver.capture(limit=2, wakeup=False)
    assert [(e["type"], e["hostname"]) for e in seen] == [
        ("task-received", "w9@host"), ("task-succeeded", "w9@host"),
        ("worker-heartbeat", "w9@host")]


def test_a_channel_without_fanout_is_an_honest_error(app: Celery) -> None:
    class QueueOnly:
        def close(self) -> None:
            pass

    with pytest.raises(ImproperlyConfigured, match="Events are not available on the memory"):
        EventReceiver(QueueOnly(), app=app)


def test_queue_options_given_per_call_are_said_not_to_apply(app: Celery,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "celeriac.events.receiver"):
        EventReceiver(None, app=app, queue_ttl=99.0).close()
    assert "queue_ttl=99.0" in caplog.text and "event_queue_ttl" in caplog.text
    with pytest.raises(ImproperlyConfigured, match="both exclusive and durable"):
        EventReceiver(None, app=app, queue_exclusive=True, queue_durable=True)
    receiver = EventReceiver(None, app=app, node_id="n1", queue_prefix="mon")
    assert receiver.queue_name == "mon.n1"
    receiver.close()


class FlakyChannel:
    """A memory channel whose first subscription breaks on its first read, as a dropped
    broker connection does."""

    def __init__(self, channel: Any) -> None:
        self.inner = channel
        self.subscriptions = 0
        self.resubscribed = threading.Event()

    def broadcast(self, exchange: str, message: TaskMessage, routing_key: str = "") -> None:
        self.inner.broadcast(exchange, message, routing_key)

    def subscribe(self, exchange: str, pattern: str = "#") -> Any:
        self.subscriptions += 1
        subscription = self.inner.subscribe(exchange, pattern)
        if self.subscriptions == 1:
            def broken(timeout: float) -> list[TaskMessage]:
                raise ConnectionError("connection reset by peer")
            subscription.get = broken
        else:
            self.resubscribed.set()
        return subscription

    def close(self) -> None:
        self.inner.close()


def test_the_events_command_subscribes_again_after_a_lost_connection(
        app: Celery, channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from celeriac.cli import events as command

    monkeypatch.setattr(command, "RECONNECT_DELAY", 0.05)
    flaky = FlakyChannel(channel)
    seen: list[str] = []
    said: list[str] = []
    receiver = EventReceiver(flaky, app=app, handlers={"*": lambda e: seen.append(e["uuid"])})

    def send_then_stop() -> None:
        wait = time.monotonic() + 10
        flaky.resubscribed.wait(10)
        broadcast(channel, celery_event("task-started", uuid="after"), "task.started")
        while not seen and time.monotonic() < wait:
            time.sleep(0.01)
        receiver.should_stop = True

    helper = threading.Thread(target=send_then_stop)
    helper.start()
    command._capture(receiver, said.append)
    helper.join()
    assert seen == ["after"] and flaky.subscriptions == 2
    assert said == ["-> Connection lost (connection reset by peer), reconnecting in 0.05 s"]


def test_the_receiver_shares_the_apps_clock(app: Celery) -> None:
    with EventReceiver(None, app=app) as receiver:
        assert receiver.clock is app.events.clock
        receiver.event_from_message(celery_event("worker-heartbeat", clock=500))
    assert app.events.clock.value == 501
