"""``EventDispatcher``: Celery's event messages, task-event batching, groups, the clock.

Read back through the memory broker's own ``subscribe`` (a real in-process broker).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.event import routing_key_of, utcoffset
from celeriac.transport.base import Channel, Subscription
from celeriac.worker.events import exception_repr
from tests.helpers import unique_name


@pytest.fixture
def channel() -> Iterator[Channel]:
    app = Celery("events_unit", broker=f"memory://{unique_name('events')}")
    channel = app.transport.channel()
    yield channel
    app.close()


def _bodies(subscription: Subscription, timeout: float = 0.2) -> list[Any]:
    return [json.loads(message.body) for message in subscription.get(timeout)]


def test_an_event_is_celerys_message(channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "#")  # type: ignore[attr-defined]
    EventDispatcher(channel, "w1@host").send("worker-heartbeat", freq=2.0, active=0)
    [message] = subscription.get(0.5)
    assert message.headers == {"hostname": "w1@host"}
    assert message.properties["delivery_mode"] == 1
    assert message.content_type == "application/json"
    body = json.loads(message.body)
    assert list(body) == ["hostname", "utcoffset", "pid", "clock", "freq", "active",
                          "timestamp", "type"]
    assert body["type"] == "worker-heartbeat"
    assert isinstance(body["utcoffset"], float) and body["utcoffset"] == utcoffset()
    assert isinstance(body["timestamp"], float) and body["clock"] == 1


def test_task_events_wait_for_flush_and_go_as_one_list(channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "task.multi")  # type: ignore[attr-defined]
    dispatcher = EventDispatcher(channel, "w1@host", buffer_group={"task"})
    dispatcher.send("task-received", uuid="a")
    dispatcher.send("task-started", uuid="a")
    dispatcher.send("task-succeeded", uuid="a", result="5", runtime=0.1)
    assert _bodies(subscription, 0.05) == []
    assert dispatcher.buffered == 3
    dispatcher.flush()
    [batch] = _bodies(subscription)
    assert [event["type"] for event in batch] == ["task-received", "task-started",
                                                  "task-succeeded"]
    assert [event["clock"] for event in batch] == [1, 2, 3]
    assert dispatcher.buffered == 0
    dispatcher.flush()  # nothing waiting: nothing sent
    assert _bodies(subscription, 0.05) == []


def test_a_full_buffer_flushes_itself_and_unbuffered_groups_go_at_once(
        channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "#")  # type: ignore[attr-defined]
    dispatcher = EventDispatcher(channel, "w1@host", buffer_group={"task"}, buffer_limit=2)
    dispatcher.send("task-started", uuid="a")
    dispatcher.send("worker-online", freq=2.0)
    dispatcher.send("task-started", uuid="b")
    bodies = _bodies(subscription)
    assert bodies[0]["type"] == "worker-online"
    assert [event["uuid"] for event in bodies[1]] == ["a", "b"]


def test_groups_and_enabled_filter(channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "#")  # type: ignore[attr-defined]
    EventDispatcher(channel, "w", groups={"worker"}).send("task-sent", uuid="x")
    EventDispatcher(channel, "w", enabled=False).send("worker-online")
    assert _bodies(subscription, 0.05) == []
    only_workers = EventDispatcher(channel, "w", groups={"worker"})
    assert only_workers.wants("worker-heartbeat") and not only_workers.wants("task-sent")
    only_workers.publish("task-sent", {"uuid": "x"})  # Celery's publish ignores groups
    assert [body["type"] for body in _bodies(subscription)] == ["task-sent"]


def test_blind_events_carry_no_clock(channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "#")  # type: ignore[attr-defined]
    EventDispatcher(channel, "w").send("worker-heartbeat", blind=True)
    assert _bodies(subscription)[0]["clock"] is None


def test_buffering_from_many_threads_loses_nothing(channel: Channel) -> None:
    subscription = channel.subscribe("celeryev", "#")  # type: ignore[attr-defined]
    dispatcher = EventDispatcher(channel, "w", buffer_group={"task"}, buffer_limit=7)

    def send(prefix: str) -> None:
        for index in range(200):
            dispatcher.send("task-started", uuid=f"{prefix}{index}")

    threads = [threading.Thread(target=send, args=(str(n),)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dispatcher.flush()
    events = [event for batch in _bodies(subscription) for event in batch]
    assert len(events) == 800
    assert sorted(event["clock"] for event in events) == list(range(1, 801))


def test_a_channel_without_broadcast_disables_the_dispatcher() -> None:
    class NoFanout:
        def close(self) -> None:
            pass

    dispatcher = EventDispatcher(NoFanout(), "w")  # type: ignore[arg-type]
    assert not dispatcher.enabled
    dispatcher.send("worker-online")  # nothing to send through, nothing raised


def test_a_failing_broadcast_is_dropped_or_retried(channel: Channel) -> None:
    calls: list[str] = []

    class Flaky:
        def broadcast(self, exchange: str, message: Any, routing_key: str = "") -> None:
            calls.append(routing_key)
            if len(calls) < 3:
                raise ConnectionError("down")

        def subscribe(self, exchange: str, pattern: str = "#") -> Any:
            raise NotImplementedError

    dispatcher = EventDispatcher(Flaky(), "w")  # type: ignore[arg-type]
    dispatcher.send("worker-online")  # no retry: dropped after one attempt
    assert calls == ["worker.online"]
    dispatcher.send("task-progress", retry=True,
                    retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0})
    assert calls == ["worker.online", "task.progress", "task.progress"]


def test_routing_keys_and_exception_reprs() -> None:
    assert routing_key_of("task-sent") == "task.sent"
    assert routing_key_of("worker-heartbeat") == "worker.heartbeat"
    assert exception_repr({"exc_type": "ValueError", "exc_message": ["E"]}) == "ValueError('E')"
    assert exception_repr({"exc_type": "KeyError", "exc_message": []}) == "KeyError()"
    assert exception_repr({"exc_type": "X", "exc_message": ["a", 1]}) == "X('a', 1)"
    assert exception_repr("not a record") is None


def test_task_sent_only_when_the_setting_says_and_nothing_built_otherwise() -> None:
    app = Celery("sent_events", broker=f"memory://{unique_name('sent')}")
    try:
        subscription = app.transport.channel().subscribe("celeryev", "#")  # type: ignore[attr-defined]
        task = app.task(name="sent.add")(lambda x, y: x + y)
        task.delay(1, 2)
        assert app._events is None  # off: the hot path never touched the events facade
        app.conf.task_send_sent_event = True
        result = task.apply_async((3, 4), queue="other")
        task.delay_many([(5, 6)])
        sent = _bodies(subscription)
        assert sent[0]["uuid"] == result.id
        assert len(sent) == 2
        assert sent[0]["type"] == "task-sent"
        assert (sent[0]["name"], sent[0]["queue"], sent[0]["routing_key"]) == (
            "sent.add", "other", "other")
        assert sent[0]["hostname"].startswith("gen")
    finally:
        app.close()


def test_app_events_dispatcher_shapes() -> None:
    app = Celery("app_events", broker=f"memory://{unique_name('appev')}")
    try:
        subscription = app.transport.channel().subscribe("celeryev", "#")  # type: ignore[attr-defined]
        with app.events.default_dispatcher(hostname="me@host") as dispatcher:
            dispatcher.send("worker-custom", value=1)
        own = app.events.Dispatcher(hostname="other@host", groups=["task"])
        assert own.owns_channel and own.clock is app.events.clock
        own.send("worker-custom")  # filtered out by groups
        own.send("task-custom", uuid="u")
        own.close()
        assert [(e["hostname"], e["type"], e["clock"]) for e in _bodies(subscription)] == [
            ("me@host", "worker-custom", 1), ("other@host", "task-custom", 2)]
    finally:
        app.close()


def test_app_events_receiver_and_state_as_celerys() -> None:
    """``app.events.Receiver(channel, handlers=...)`` and ``app.events.State()`` as Celery's."""
    app = Celery("app_events_rx", broker=f"memory://{unique_name('apprx')}")
    try:
        state = app.events.State()
        seen: list[str] = []

        def on_event(event: dict[str, Any]) -> None:
            seen.append(event["type"])
            state.event(event)

        receiver = app.events.Receiver(app.transport.channel(), handlers={"*": on_event})
        receiver.subscribe()
        with app.events.default_dispatcher(hostname="w1@host") as dispatcher:
            dispatcher.send("worker-online", freq=2.0, active=0, processed=0)
            dispatcher.send("task-received", uuid="t1", name="proj.add", args="(1, 2)",
                            kwargs="{}", retries=0)
            dispatcher.send("task-succeeded", uuid="t1", result="3", runtime=0.01)
        receiver.capture(limit=3, timeout=5)
        receiver.close()
        assert seen == ["worker-online", "task-received", "task-succeeded"]
        assert state.tasks["t1"].state == "SUCCESS" and state.tasks["t1"].name == "proj.add"
        assert "w1@host" in state.workers and state.workers["w1@host"].alive
    finally:
        app.close()
