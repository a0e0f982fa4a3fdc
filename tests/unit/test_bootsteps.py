"""``celeriac.bootsteps``: step naming, ordering by ``requires``, start/stop order, and the
kombu-shaped ``Consumer`` a ``ConsumerStep`` returns (on memory://, in process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, bootsteps
from tests.helpers import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("steps", broker="memory://", set_as_current=False)
    yield app
    app.close()


def test_steps_are_named_as_celerys() -> None:
    class Named(bootsteps.Step):
        pass

    class Custom(bootsteps.Step):
        name = "my.custom"

    assert Named.name == f"{__name__}.Named"
    assert str(Custom) == "my.custom"
    assert Named(None).alias == "Named"


def test_blueprint_orders_by_requires_and_stops_in_reverse() -> None:
    events: list[str] = []

    class First(bootsteps.StartStopStep):
        def start(self, parent: Any) -> None:
            events.append("start first")

        def stop(self, parent: Any) -> None:
            events.append("stop first")

    class Second(bootsteps.StartStopStep):
        requires = (First, "celery.worker.components:Pool")

        def start(self, parent: Any) -> None:
            events.append("start second")

        def stop(self, parent: Any) -> None:
            raise RuntimeError("a failing stop does not stop the others")

    class Disabled(bootsteps.StartStopStep):
        enabled = False

        def start(self, parent: Any) -> None:
            events.append("disabled started")

    class Zero(bootsteps.StartStopStep):  # sorts first by name, but requires Second
        requires = (f"{__name__}.Second",)

        def start(self, parent: Any) -> None:
            events.append("start zero")

    blueprint = bootsteps.Blueprint([Zero, Second, First, Disabled]).apply(object())
    blueprint.start(object())
    blueprint.stop(object())
    assert events == ["start first", "start second", "start zero", "stop first"]


def test_requires_cycle_is_refused() -> None:
    class A(bootsteps.Step):
        requires = (f"{__name__}.B",)

    class B(bootsteps.Step):
        requires = (f"{__name__}.A",)

    with pytest.raises(ValueError, match="cycle"):
        bootsteps.ordered([A, B])


def test_start_stop_step_drives_the_created_object() -> None:
    class Service:
        state = "new"

        def start(self) -> None:
            self.state = "started"

        def stop(self) -> None:
            self.state = "stopped"

    service = Service()

    class Wrapper(bootsteps.StartStopStep):
        def create(self, parent: Any) -> Service:
            return service

    blueprint = bootsteps.Blueprint([Wrapper]).apply(object())
    blueprint.start(object())
    assert service.state == "started"
    blueprint.stop(object())
    assert service.state == "stopped"


class Parent:
    def __init__(self, app: Celery) -> None:
        self.connection = bootsteps.ChannelSource(app.transport)


def test_consumer_step_consumes_acks_and_rejects_failures(app: Celery) -> None:
    got: list[Any] = []
    done = threading.Event()

    class Custom(bootsteps.ConsumerStep):
        def get_consumers(self, channel: Any) -> list[bootsteps.Consumer]:
            return [bootsteps.Consumer(channel, queues=["custom_q"],
                                       callbacks=[self.on_body], accept=["json"])]

        def on_body(self, body: Any, message: bootsteps.Message) -> None:
            if body == "boom":
                raise ValueError("callback failed")
            got.append((body, message.delivery_info["routing_key"]))
            message.ack()
            done.set()

    parent = Parent(app)
    step = Custom(parent)
    step.start(parent)
    try:
        with app.connection() as conn:
            conn.Producer().publish("boom", routing_key="custom_q")
            conn.Producer().publish({"n": 1}, routing_key="custom_q")
            assert done.wait(10)
            wait_until(lambda: conn.default_channel.size("custom_q") == 0)
    finally:
        step.stop(parent)
    assert got == [({"n": 1}, "custom_q")]


def test_consumer_refuses_content_it_does_not_accept(app: Celery) -> None:
    seen: list[Any] = []
    channel = app.transport.channel()
    consumer = bootsteps.Consumer(channel, queues=["pickled_q"],
                                  on_message=lambda message: seen.append(message.decode()))
    with app.connection() as conn:
        conn.Producer(serializer="pickle").publish({"x": 1}, routing_key="pickled_q")
    consumer.consume()
    try:
        wait_until(lambda: channel.size("pickled_q") == 0)
    finally:
        consumer.cancel()
        channel.close()
    assert seen == []  # ContentDisallowed: logged, rejected, never unpickled


def test_worker_steps_in_a_worker_and_a_failing_start_stops_it(app: Celery) -> None:
    from tests.helpers import in_process_worker

    events: list[str] = []

    class Good(bootsteps.StartStopStep):
        def __init__(self, parent: Any, pool: str = "", **kwargs: Any) -> None:
            events.append(f"init {pool}")

        def start(self, parent: Any) -> None:
            events.append("start")

        def stop(self, parent: Any) -> None:
            events.append("stop")

    app.steps["worker"].add(Good)
    with in_process_worker(app, pool="solo", concurrency=1):
        wait_until(lambda: "start" in events)
    assert events == ["init solo", "start", "stop"]

    class Broken(bootsteps.StartStopStep):
        requires = (Good,)

        def start(self, parent: Any) -> None:
            raise RuntimeError("cannot start")

    app.steps["worker"].add(Broken)
    with in_process_worker(app, pool="solo", concurrency=1) as worker:
        wait_until(lambda: worker._stop.is_set())  # stopped by the failing step
    assert worker._exit_code == 1
    assert events[-2:] == ["start", "stop"]  # Good started, then stopped at shutdown
