"""Elections between workers: Celery's gossip consensus (``worker-elect``/``worker-elect-ack``).

The wire is Celery's, so celeriac and Celery workers vote together:

1. the ``election(id, topic, action)`` control command reaches every worker, and each one that
   takes part sends ``worker-elect`` (fields ``id``, ``topic``, ``action``, ``cver`` 1; the
   event carries the sender's Lamport ``clock``, ``hostname`` and ``pid``);
2. every taking-part worker that receives a ``worker-elect`` (its own too) records the request
   ``(clock, "hostname.pid", topic, action)`` and answers ``worker-elect-ack`` (field ``id``);
3. a worker that was asked to hold election ``id`` decides once it has heard everyone: the
   request with the lowest clock wins, ties broken by the ``hostname.pid`` name (Celery's
   ``clock.sort_heap``); the winner runs the topic's handler, the others log who won.

When to decide is where celeriac is stricter than Celery, which decides on the first
``len(alive workers)`` acks even if some ``worker-elect`` has not arrived yet (its workers can
then disagree). Here a worker decides when every alive worker (itself included) has both
acked and sent its own ``worker-elect``, so all see the same requests and agree on the leader.
A worker that is alive but takes no part (``--without-gossip``, a Celery worker without
gossip, one the broadcast did not reach) would stall that forever, so after ``settle`` quiet
seconds (no request or ack for that election) it decides with what it has.

A worker that hears another's ``worker-elect`` before its own ``election`` command arrived
joins at once (the command is on its way to it too), so its request goes out before its ack:
a Celery worker, which decides on acks, then has it when it decides. A decided election is
remembered for ``FORGET_AFTER`` seconds, so a late request does not start it again.

This module is the bookkeeping only (no broker, no thread), so it is unit-tested as is;
``celeriac.worker.gossip`` feeds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Quiet seconds after which an election is decided with the requests it has.
SETTLE_SECONDS = 1.0
#: An election this old is forgotten (requests for ids this worker was not asked to hold).
FORGET_AFTER = 60.0


class Request(NamedTuple):
    """One ``worker-elect``: Celery's heap entry ``(clock, "hostname.pid", topic, action)``."""

    clock: int
    name: str
    topic: str
    action: Any


class Decision(NamedTuple):
    """The outcome of election ``id``: ``leader`` (``hostname.pid``) runs ``action``."""

    id: str
    leader: str
    topic: str
    action: Any


def leader_of(requests: Iterable[Request]) -> Request:
    """The winning request: the lowest clock, then the lowest name (Celery's ``sort_heap``).

    Raises:
        ValueError: no request.
    """
    return min(requests, key=lambda request: (request.clock, request.name))


@dataclass
class _Election:
    requests: list[Request] = field(default_factory=list)
    electors: set[str] = field(default_factory=set)  # node names that sent worker-elect
    ackers: set[str] = field(default_factory=set)  # node names that sent worker-elect-ack
    ours: bool = False  # this worker takes part (sent its worker-elect)
    decided: bool = False
    last_heard: float = 0.0
    born: float = 0.0


class Elections:
    """The elections this worker hears of. Not thread-safe: one thread (gossip's) feeds it.

    Args:
        hostname: this worker's node name (``celery@host``).
        full_name: its ``hostname.pid``, the name its requests carry.
        settle: see ``SETTLE_SECONDS``.
        clock: a monotonic clock (tests pass their own).
    """

    def __init__(self, hostname: str, full_name: str, *, settle: float = SETTLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hostname = hostname
        self.full_name = full_name
        self.settle = settle
        self._now = clock
        self._elections: dict[str, _Election] = {}

    def _get(self, id_: str) -> _Election:
        election = self._elections.get(id_)
        if election is None:
            now = self._now()
            election = self._elections[id_] = _Election(last_heard=now, born=now)
        return election

    def hold(self, id_: str) -> bool:
        """Take part in election ``id_``: True when the caller is to send this worker's
        ``worker-elect`` now, False when it took part already (or the election is over)."""
        election = self._get(id_)
        if election.ours or election.decided:
            return False
        election.ours = True
        election.last_heard = self._now()
        return True

    def on_elect(self, event: Mapping[str, Any]) -> str:
        """Record a ``worker-elect``; return the id to acknowledge.

        Raises:
            KeyError: a field is missing (Celery logs and ignores such a request).
        """
        id_ = str(event["id"])
        hostname = str(event["hostname"])
        request = Request(int(event["clock"]), f"{hostname}.{event['pid']}",
                          str(event["topic"]), event["action"])
        election = self._get(id_)
        if not election.decided:
            election.requests.append(request)
            election.electors.add(hostname)
            election.last_heard = self._now()
        return id_

    def on_ack(self, event: Mapping[str, Any]) -> None:
        """Record a ``worker-elect-ack`` (acks for elections of no interest are dropped)."""
        election = self._elections.get(str(event.get("id")))
        if election is not None and not election.decided:
            election.ackers.add(str(event.get("hostname")))
            election.last_heard = self._now()

    def decide(self, alive: Iterable[str]) -> list[Decision]:
        """The elections this worker holds that can be decided now, given the node names of
        the other alive workers; each is returned once (then remembered as decided until
        ``FORGET_AFTER``). Elections older than that are forgotten here too."""
        everyone = set(alive) | {self.hostname}
        now = self._now()
        decided: list[Decision] = []
        for id_, election in list(self._elections.items()):
            if now - election.born >= FORGET_AFTER:  # decided, not ours, or never back
                del self._elections[id_]
                continue
            # Not ours, over, or our own request is not back yet: nothing to decide.
            if not election.ours or election.decided or self.hostname not in election.electors:
                continue
            heard_all = everyone <= election.ackers and everyone <= election.electors
            if heard_all or now - election.last_heard >= self.settle:
                winner = leader_of(election.requests)
                decided.append(Decision(id_, winner.name, winner.topic, winner.action))
                election.decided = True
                election.requests.clear()
        return decided

    def pending(self) -> int:
        """How many elections are remembered and not decided."""
        return sum(not election.decided for election in self._elections.values())


__all__ = ["FORGET_AFTER", "SETTLE_SECONDS", "Decision", "Elections", "Request", "leader_of"]
