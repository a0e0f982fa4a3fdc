"""Events from a celeriac worker to ``EventReceiver`` and ``State`` on every broker with fanout.

The same scenario per broker: a receiver subscribes, a worker (``-E``, heartbeats every
0.5 s) runs a task that succeeds and one that fails, then stops; the receiver must have seen
the worker come online, beat and go offline, every task event, and ``State`` must hold each
task in its final state and the worker alive, then not. RabbitMQ runs once its channel is a
``FanoutChannel`` (skipped with the reason until then).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State
from celeriac.transport.base import FanoutChannel
from tests.helpers import flushed_redis, in_process_worker, wait_until
from tests.suite_redis import suite_redis_url

REDIS = suite_redis_url(11)


def _amqp_has_fanout() -> bool:
    from celeriac.transport.amqp.channel import AmqpChannel

    return all(hasattr(AmqpChannel, name) for name in ("broadcast", "subscribe"))


@pytest.fixture(params=[
    pytest.param("redis", marks=pytest.mark.redis), "sqlite", "memory",
    pytest.param("amqp", marks=pytest.mark.amqp),
])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "redis":
        with flushed_redis(REDIS):
            yield REDIS
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'broker.db'}"
    elif kind == "memory":
        yield f"memory://events-{uuid.uuid4().hex}"
    else:
        if not _amqp_has_fanout():
            pytest.skip("the AMQP channel has no fanout (FanoutChannel) yet: "
                        "enabled once amqp-control has landed")
        from tests.integration.amqp_vhost import rabbitmq_vhost

        with rabbitmq_vhost("events") as vhost:
            yield vhost.url


def test_a_celeriac_workers_events_build_the_state(broker: str) -> None:
    app = Celery("events-brokers", broker=broker)
    app.conf.task_default_queue = "events.brokers"

    @app.task(name="evb.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="evb.boom")
    def boom() -> None:
        raise ValueError("boom")

    seen: list[dict[str, Any]] = []
    cluster = State()

    def handle(event: dict[str, Any]) -> None:
        seen.append(event)
        cluster.event(event)

    # The monitor is an app of its own, as it is a process of its own in real life (closing
    # the worker's app closes every channel its transport opened).
    monitor = Celery("events-monitor", broker=broker)
    receiver = EventReceiver(None, app=monitor, handlers={"*": handle})
    assert isinstance(receiver.channel, FanoutChannel)
    receiver.subscribe()
    capture = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
    capture.start()
    hostname = f"evb-{uuid.uuid4().hex[:6]}@test"
    try:
        app.conf.worker_send_task_events = True  # what -E sets
        with in_process_worker(app, pool="solo", hostname=hostname,
                               heartbeat_interval=0.5, queues=["events.brokers"]):
            wait_until(lambda: hostname in cluster.workers
                       and len(cluster.workers[hostname].heartbeats) >= 2, timeout=20,
                       message="worker-online and a heartbeat")
            assert cluster.workers[hostname].alive
            ok = add.delay(2, 3).id
            bad = boom.delay().id

            def final() -> bool:
                known = cluster.tasks.data
                return (ok in known and known[ok].state == states.SUCCESS
                        and bad in known and known[bad].state == states.FAILURE)

            wait_until(final, timeout=20, message="both tasks final in State")
        wait_until(lambda: any(e["type"] == "worker-offline" for e in list(seen)),
                   timeout=20, message="worker-offline")
    finally:
        receiver.should_stop = True
        capture.join(10)
        receiver.close()
        monitor.close()
        app.close()

    mine = {event["type"] for event in seen if event.get("hostname") == hostname}
    assert {"worker-online", "worker-heartbeat", "worker-offline", "task-received",
            "task-started", "task-succeeded", "task-failed"} <= mine
    task = cluster.tasks.data[ok]
    assert task.name == "evb.add" and task.result == "5" and task.runtime is not None
    assert task.worker is cluster.workers[hostname]
    assert "ValueError" in str(cluster.tasks.data[bad].exception)
    node = cluster.workers[hostname]
    assert not node.alive and node.freq == 0.5 and node.processed == 2
