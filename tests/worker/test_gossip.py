"""Gossip in-process: workers on threads of this process, on the memory and SQLite brokers.

An election among two gossiping workers and one ``without_gossip`` worker runs its task
exactly once; a ``Gossip`` logs joins, leaves and missed heartbeats and calls Celery's
``event_handlers`` hooks. The same on real worker processes (Redis, RabbitMQ, SQLite) and
with a Celery worker: ``tests/integration/test_gossip_workers.py``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.receiver import decode_events
from celeriac.worker.gossip import Gossip, worker_gossip
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker, unique_name, wait_until

RUNS: list[str] = []


def _app(broker: str, name: str) -> Celery:
    app = Celery(name, broker=broker)

    @app.task(name="gossip.record")
    def record(tag: str) -> None:
        RUNS.append(tag)

    return app


@pytest.fixture(params=["memory", "sqlite"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    name = unique_name("gossip")
    yield f"memory://{name}" if request.param == "memory" else f"sqlite:///{tmp_path}/b.db"
    gc.collect()


def _messages(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


def test_an_election_runs_its_task_once(broker: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="celeriac.worker")
    election = unique_name("election")
    with ExitStack() as stack:
        workers: list[Worker] = []
        for node, without in (("a@test", False), ("b@test", False), ("quiet@test", True)):
            app = _app(broker, unique_name("gossip_app"))
            workers.append(stack.enter_context(in_process_worker(
                app, hostname=node, pool="solo", without_gossip=without)))
        voters = workers[:2]

        def everyone_seen() -> bool:  # ``gossip`` is set once each worker's thread set up
            gossips = [getattr(worker, "gossip", None) for worker in voters]
            return all(gossip is not None and len(list(gossip.state.alive_workers())) == 2
                       for gossip in gossips)

        wait_until(everyone_seen, timeout=30, message="the workers to see each other")
        assert not workers[2].gossip.enabled
        workers[0].app.control.election(election, "task",
                                        dict(workers[0].app.signature("gossip.record",
                                                                      (election,))))

        def decisions() -> tuple[list[str], list[str]]:
            return (_messages(caplog, f"I won the election {election!r}"),
                    _messages(caplog, f"elected for {election!r}"))

        wait_until(lambda: sum(map(len, decisions())) >= 2, timeout=30,
                   message="both voters to decide")
        wait_until(lambda: election in RUNS, timeout=30, message="the task to run")
        won, lost = decisions()
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        refused = _messages(caplog, "no part in gossip")
        assert len(refused) == 1 and repr(election) in refused[0]
        assert _messages(caplog, "quiet@test joined the party")
    assert RUNS.count(election) == 1


@pytest.fixture
def gossip(broker: str) -> Iterator[tuple[Gossip, EventDispatcher]]:
    app = _app(broker, unique_name("gossip_app"))
    channel, peer_channel = app.transport.channel(), app.transport.channel()
    own = EventDispatcher(channel, "me@test")
    peer = EventDispatcher(peer_channel, "peer@test")
    component = worker_gossip(app, own, without_gossip=False)
    component.interval = 0.05
    component.start()
    try:
        yield component, peer
    finally:
        component.stop()
        channel.close()
        peer_channel.close()
        app.close()


def test_joins_leaves_and_missed_heartbeats_are_logged(
        gossip: tuple[Gossip, EventDispatcher], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="celeriac.worker.gossip")
    component, peer = gossip
    seen: list[tuple[str, str | None]] = []
    component.on["node_lost"].add(lambda worker: seen.append(("lost", worker.hostname)))
    component.on["node_leave"].add(lambda worker: seen.append(("left", worker.hostname)))
    peer.send("worker-online", freq=60.0)
    wait_until(lambda: _messages(caplog, "peer@test joined the party"), timeout=10,
               message="the join")
    peer.send("worker-offline", freq=60.0)
    wait_until(lambda: _messages(caplog, "peer@test left"), timeout=10, message="the leave")
    peer.send("worker-heartbeat", freq=0.01)  # expires at once: missed from the next check
    wait_until(lambda: _messages(caplog, "missed heartbeat from peer@test"), timeout=10,
               message="the missed heartbeat")
    assert seen[:2] == [("left", "peer@test"), ("lost", "peer@test")]
    assert "peer@test" not in component.state.workers


def test_celerys_event_handlers_hook(gossip: tuple[Gossip, EventDispatcher]) -> None:
    component, peer = gossip
    got: list[dict[str, Any]] = []
    component.event_handlers["worker.custom"] = got.append
    peer.send("worker-custom", note="hi")
    component.dispatcher.send("worker-custom", note="mine")  # our own reach the hook too
    wait_until(lambda: len(got) == 2, timeout=10, message="both custom events")
    assert [(event["hostname"], event["note"]) for event in got] == [
        ("peer@test", "hi"), ("me@test", "mine")]


def test_a_failing_subscription_is_warned_once_and_made_again(
        gossip: tuple[Gossip, EventDispatcher], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="celeriac.worker.gossip")
    component, peer = gossip
    receiver = component._receiver
    assert receiver is not None
    real_subscribe = receiver.subscribe
    failures = [ConnectionError("broker away")] * 3

    def subscribe() -> Any:
        if failures:
            receiver.unsubscribe()  # what an outage leaves: no subscription
            raise failures.pop()
        return real_subscribe()

    monkeypatch.setattr(receiver, "subscribe", subscribe)
    wait_until(lambda: not failures, timeout=20, message="three failed rounds")

    def joined() -> bool:  # sent until the subscription made again sees one
        peer.send("worker-heartbeat", freq=60.0)
        return bool(_messages(caplog, "peer@test joined the party"))

    wait_until(joined, timeout=20, interval=0.2, message="the join after the outage")
    assert len(_messages(caplog, "receiving worker events failed")) == 1


def test_a_heard_request_is_joined_before_it_is_acknowledged(
        gossip: tuple[Gossip, EventDispatcher]) -> None:
    """Our ``worker-elect`` goes out before our ack, so a Celery peer (which decides on acks)
    has our request when it decides; the election command arriving later sends no second."""
    component, peer = gossip
    assert peer.fanout is not None
    subscription = peer.fanout.subscribe("celeryev", "worker.elect.#")
    try:
        peer.send("worker-elect", id="e1", topic="none", action=None, cver=1)
        sent: list[tuple[str, str]] = []

        def heard() -> bool:
            for message in subscription.get(0.1):
                sent.extend((event["hostname"], event["type"]) for event in
                            decode_events(message, frozenset({"application/json"})))
            return ("me@test", "worker-elect-ack") in sent
        wait_until(heard, timeout=10, message="our ack")
        ours = [type_ for hostname, type_ in sent if hostname == "me@test"]
        assert ours[:2] == ["worker-elect", "worker-elect-ack"]
        assert component.election("e1", "none") is True
        wait_until(lambda: component.elections.pending() == 0, timeout=10,
                   message="the election to be decided")
        heard()
        assert [type_ for hostname, type_ in sent if hostname == "me@test"].count(
            "worker-elect") == 1
    finally:
        subscription.close()


def test_without_gossip_or_worker_events_no_gossip(broker: str) -> None:
    app = _app(broker, unique_name("gossip_app"))
    channel = app.transport.channel()
    try:
        off = worker_gossip(app, EventDispatcher(channel, "a@test"), without_gossip=True)
        assert not off.enabled and off.disabled_because == "--without-gossip"
        assert off.election("e", "task") is False
        off.start()  # nothing to start
        off.stop()
        mute = EventDispatcher(channel, "a@test", groups={"task"})  # --without-heartbeat -E
        assert "--without-heartbeat" in worker_gossip(app, mute, False).disabled_because
    finally:
        channel.close()
        app.close()
