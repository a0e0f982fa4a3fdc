"""The election bookkeeping (``celeriac.worker.election``): who leads, and when to decide."""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import pytest
from kombu.clocks import LamportClock as KombuClock

from celeriac.worker.election import (
    FORGET_AFTER,
    Decision,
    Elections,
    Request,
    leader_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elect(id_: str, hostname: str, clock: int, pid: int = 1, topic: str = "task",
          action: Any = None) -> dict[str, Any]:
    return {"type": "worker-elect", "id": id_, "hostname": hostname, "pid": pid,
            "clock": clock, "topic": topic, "action": action, "cver": 1}


def ack(id_: str, hostname: str) -> dict[str, Any]:
    return {"type": "worker-elect-ack", "id": id_, "hostname": hostname}


def test_the_lowest_clock_leads() -> None:
    requests = [Request(7, "b@x.1", "task", "B"), Request(3, "c@x.1", "task", "C"),
                Request(5, "a@x.1", "task", "A")]
    assert leader_of(requests).name == "c@x.1"


def test_a_tie_goes_to_the_lowest_name() -> None:
    requests = [Request(4, "b@x.9", "task", None), Request(4, "a@x.10", "task", None),
                Request(6, "0@x.1", "task", None)]
    assert leader_of(requests).name == "a@x.10"


def test_no_request_no_leader() -> None:
    with pytest.raises(ValueError):
        leader_of([])


@pytest.mark.parametrize("clocks", list(itertools.product([1, 2, 3], repeat=2)))
def test_two_workers_agree_with_celerys_sort_heap(clocks: tuple[int, int]) -> None:
    """Two voters (one celeriac, one Celery worker) must pick the same leader."""
    names = ("b@h.2", "a@h.1")
    requests = [Request(clock, name, "task", None)
                for clock, name in zip(clocks, names, strict=True)]
    heap: list[tuple[int, str]] = []  # Celery pushes 4-tuples; kombu's hint says pairs
    for request in requests:
        heapq.heappush(heap, (request.clock, request.name))
    assert leader_of(requests)[:2] == KombuClock().sort_heap(heap)


def test_decided_once_every_alive_worker_acked_and_elected() -> None:
    clock = Clock()
    board = Elections("a@x", "a@x.1", clock=clock)
    board.hold("e1")
    assert board.on_elect(elect("e1", "a@x", 5, action="A")) == "e1"
    board.on_ack(ack("e1", "a@x"))
    board.on_ack(ack("e1", "b@x"))  # b acked a's request; b's own is not here yet
    assert board.decide(["b@x"]) == []
    board.on_elect(elect("e1", "b@x", 4, action="B"))
    board.on_ack(ack("e1", "a@x"))
    assert board.decide(["b@x"]) == [Decision("e1", "b@x.1", "task", "B")]
    assert board.pending() == 0  # decided once only
    assert board.decide(["b@x"]) == []


def test_a_silent_alive_worker_delays_the_decision_by_the_settle_time() -> None:
    clock = Clock()
    board = Elections("a@x", "a@x.1", settle=1.0, clock=clock)
    board.hold("e1")
    board.on_elect(elect("e1", "a@x", 9))
    board.on_ack(ack("e1", "a@x"))
    assert board.decide(["quiet@x"]) == []  # --without-gossip: it never votes
    clock.now += 0.5
    assert board.decide(["quiet@x"]) == []
    clock.now += 0.6
    assert board.decide(["quiet@x"]) == [Decision("e1", "a@x.1", "task", None)]


def test_not_decided_before_our_own_request_is_back() -> None:
    clock = Clock()
    board = Elections("a@x", "a@x.1", clock=clock)
    board.hold("e1")
    board.on_elect(elect("e1", "b@x", 1))
    clock.now += 10
    assert board.decide([]) == []
    board.on_elect(elect("e1", "a@x", 2))
    clock.now += 10
    assert board.decide([]) == [Decision("e1", "b@x.1", "task", None)]


def test_elections_of_others_are_answered_but_not_decided_and_then_forgotten() -> None:
    clock = Clock()
    board = Elections("a@x", "a@x.1", clock=clock)
    assert board.on_elect(elect("theirs", "b@x", 1)) == "theirs"  # acked by the caller
    board.on_ack(ack("unknown", "b@x"))  # an ack for nothing we heard of: dropped
    assert board.decide([]) == []
    assert board.pending() == 1
    clock.now += FORGET_AFTER
    assert board.decide([]) == []
    assert board.pending() == 0


def test_a_request_missing_a_field_is_refused() -> None:
    board = Elections("a@x", "a@x.1")
    broken = elect("e1", "b@x", 1)
    del broken["topic"]
    with pytest.raises(KeyError):
        board.on_elect(broken)


def test_joining_once_and_a_late_request_does_not_start_a_decided_election_again() -> None:
    clock = Clock()
    board = Elections("a@x", "a@x.1", clock=clock)
    assert board.hold("e1") is True  # send our worker-elect
    assert board.hold("e1") is False  # joined already (on hearing, or the command twice)
    board.on_elect(elect("e1", "a@x", 1))
    board.on_ack(ack("e1", "a@x"))
    assert board.decide([]) == [Decision("e1", "a@x.1", "task", None)]
    board.on_elect(elect("e1", "late@x", 0))  # a slow worker's request, after the decision
    board.on_ack(ack("e1", "late@x"))
    assert board.hold("e1") is False
    clock.now += 10
    assert board.decide(["late@x"]) == [] and board.pending() == 0
    clock.now += FORGET_AFTER
    board.decide([])
    assert board.hold("e1") is True  # forgotten at last: the id could be used again
