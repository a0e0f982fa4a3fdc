"""Gossip: what a worker learns from the other workers' events (Celery's ``Gossip`` bootstep).

A thread of its own (``celeriac-gossip``) receives the ``worker.#`` events of the event
exchange (``worker-online``/``-heartbeat``/``-offline`` and the election events, never task
events) through an ``EventReceiver`` on a broker channel of its own, so nothing of this runs
on the task path. It

* keeps an event ``State`` of the other workers: a join or a leave is logged, and every
  ``interval`` seconds a worker whose heartbeats stopped is logged (``missed heartbeat``) and
  forgotten;
* holds elections (``celeriac.worker.election``): the ``election`` control command calls
  ``election``, which sends ``worker-elect``; requests are acknowledged and, once decided, the
  leader runs the topic's handler (``election_handlers``; ``'task'`` sends the task its
  ``action`` describes, as Celery's);
* calls the handlers of ``event_handlers`` (keyed by routing key, as Celery's
  ``consumer.gossip.event_handlers``) for events of their type, its own too.

It sends through the worker's ``EventDispatcher``: worker events go out without ``-E``, as
Celery's. Gossip is off with ``--without-gossip``, and when the worker sends no worker events
(``--without-heartbeat``, or a broker without broadcast): it could neither be seen nor vote.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac.events.receiver import Event, EventReceiver, decode_events
from celeriac.events.state import State
from celeriac.exceptions import ContentDisallowed, DecodeError
from celeriac.worker.election import Decision, Elections

if TYPE_CHECKING:
    from celeriac.events.dispatcher import EventDispatcher
    from celeriac.events.state_worker import Worker as WorkerState

logger = logging.getLogger(__name__)

#: Seconds between checks for workers whose heartbeats stopped (Celery's ``interval``).
LOST_CHECK_INTERVAL = 5.0
#: How long one wait for events lasts, so elections are decided and stops seen promptly.
POLL_SECONDS = 0.5
ROUTING_KEY = "worker.#"

NodeHandler = Callable[["WorkerState"], Any]


class Gossip:
    """One worker's gossip; ``start``/``stop`` run its thread. See the module docstring.

    Args:
        app: the worker's app (its transport, and ``signature`` for the ``task`` topic).
        dispatcher: the worker's event dispatcher (``worker-elect`` and ``-ack`` go out there).
        hostname: the worker's node name.
        enabled: False: ``start`` and ``stop`` do nothing and ``election`` is refused (the
            reason is ``disabled_because``).
        join_heard: join an election on hearing another worker's ``worker-elect``, before
            the command arrives (``celeriac.worker.election``); False for a worker that
            takes no remote control, which Celery's would not vote in.
    """

    def __init__(self, app: Any, dispatcher: EventDispatcher, hostname: str, *,
                 interval: float = LOST_CHECK_INTERVAL, enabled: bool = True,
                 disabled_because: str = "", join_heard: bool = True) -> None:
        self.enabled = enabled
        self.join_heard = join_heard
        self.disabled_because = disabled_because
        self.app = app
        self.dispatcher = dispatcher
        self.hostname = hostname
        self.full_hostname = f"{hostname}.{os.getpid()}"
        self.interval = interval
        self.state = State(on_node_join=self.on_node_join, on_node_leave=self.on_node_leave,
                           max_tasks_in_memory=1)
        self.elections = Elections(hostname, self.full_hostname)
        #: Celery's ``gossip.on``: callables told of joins, leaves and lost workers.
        self.on: dict[str, set[NodeHandler]] = {
            "node_join": set(), "node_leave": set(), "node_lost": set()}
        self.event_handlers: dict[str, Callable[[Event], Any]] = {
            "worker.elect": self.on_elect, "worker.elect.ack": self.on_elect_ack}
        self.election_handlers: dict[str, Callable[[Any], Any]] = {"task": self.call_task}
        self._lock = threading.Lock()  # the control thread asks, the gossip thread answers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receiver: EventReceiver | None = None
        self._failing = False

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe now (events sent from here on are seen), then listen on a thread."""
        if not self.enabled:
            return
        receiver = self._receiver = EventReceiver(self.app.transport, routing_key=ROUTING_KEY,
                                                  app=self.app)
        receiver.clock = self.dispatcher.clock  # one Lamport clock for what we send and hear
        try:
            receiver.subscribe()
        except Exception as exc:  # the broker is away: the thread subscribes when it is back
            self._receive_failed(receiver, exc)
        self._thread = threading.Thread(target=self._run, name="celeriac-gossip", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop listening; ``wait=False`` only asks the thread to end (at its next poll, up
        to ``POLL_SECONDS``), so a shutdown can do other work meanwhile and call again."""
        self._stop.set()
        if not wait:
            return
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._receiver is not None:
            self._receiver.close()

    def _run(self) -> None:
        receiver = self._receiver
        assert receiver is not None
        next_check = time.monotonic() + self.interval
        while not self._stop.is_set():
            try:
                for message in receiver.subscribe().get(POLL_SECONDS):
                    self._receive(receiver, message)
                self._failing = False
                self._decide()
            except Exception as exc:  # a broker outage: subscribe again after a pause
                self._receive_failed(receiver, exc)
                self._stop.wait(1.0)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.interval
                self.periodic()

    def _receive_failed(self, receiver: EventReceiver, exc: Exception) -> None:
        """Drop the subscription; warn once per outage (then debug: one line a second
        during a long outage helps nobody)."""
        log = logger.debug if self._failing else logger.warning
        log("Gossip: receiving worker events failed, retrying: %r", exc)
        self._failing = True
        receiver.unsubscribe()

    def _receive(self, receiver: EventReceiver, message: Any) -> None:
        try:
            events = decode_events(message, receiver.accept)
        except (ContentDisallowed, DecodeError) as exc:
            logger.error("Gossip: ignoring an unreadable event message: %s", exc)
            return
        for body in events:
            self.on_event(receiver, body)

    def on_event(self, receiver: EventReceiver, body: Event) -> None:
        """One event: its handler if its routing key has one, else the state (another
        worker's event) or the clock (our own), as Celery's ``Gossip.on_message``."""
        type_ = str(body.get("type"))
        if type_.startswith("task-"):  # Celery's guard for brokers that ignore the pattern
            return
        handler = self.event_handlers.get(type_.replace("-", "."))
        if handler is not None:
            try:
                handler(body)
            except Exception:
                logger.exception("Gossip: event handler for %s failed", type_)
            return
        if body.get("hostname") != self.hostname:
            _, event = receiver.event_from_message(body, localize=False)
            self.state.event(event)
        else:
            self.dispatcher.clock.forward()

    # -- elections ------------------------------------------------------------------------------
    def election(self, id: str, topic: str, action: Any = None) -> bool:
        """Take part in election ``id`` (the ``election`` control command); False (and
        nothing sent) when gossip is off."""
        if not self.enabled:
            return False
        with self._lock:  # sent under the lock: no ack of ours for ``id`` can precede it
            if self.elections.hold(id):  # not yet joined on hearing another's request
                self._send_elect(id, topic, action)
        return True

    def _send_elect(self, id: str, topic: str, action: Any) -> None:
        self.dispatcher.send("worker-elect", id=id, topic=topic, action=action, cver=1)

    def on_elect(self, event: Event) -> None:
        try:
            with self._lock:
                id_ = self.elections.on_elect(event)
                # Our request before our ack (election.py's docstring); the lock also holds
                # the ack back while the control thread is sending our request.
                if self.join_heard and self.elections.hold(id_):
                    self._send_elect(id_, str(event["topic"]), event["action"])
        except (KeyError, TypeError, ValueError) as exc:
            logger.error("Gossip: election request missing field %s", exc)
            return
        self.dispatcher.send("worker-elect-ack", id=id_)

    def on_elect_ack(self, event: Event) -> None:
        with self._lock:
            self.elections.on_ack(event)

    def _decide(self) -> None:
        alive = [worker.hostname or "" for worker in self.state.alive_workers()]
        with self._lock:
            decided = self.elections.decide(alive)
        for decision in decided:
            self._run_decision(decision)

    def _run_decision(self, decision: Decision) -> None:
        if decision.leader != self.full_hostname:
            logger.info("node %s elected for %r", decision.leader, decision.id)
            return
        logger.info("I won the election %r", decision.id)
        handler = self.election_handlers.get(decision.topic)
        if handler is None:
            logger.error("Unknown election topic %r", decision.topic)
            return
        try:
            handler(decision.action)
        except Exception:
            logger.exception("Gossip: the %r election handler failed", decision.topic)

    def call_task(self, task: Any) -> None:
        """The ``task`` topic: send the task ``task`` (a signature or its dict) describes."""
        try:
            self.app.signature(task).apply_async()
        except Exception as exc:
            logger.exception("Could not call task: %r", exc)

    # -- other workers ---------------------------------------------------------------------------
    def on_node_join(self, worker: WorkerState) -> None:
        logger.info("%s joined the party", worker.hostname)
        self._call_handlers("node_join", worker)

    def on_node_leave(self, worker: WorkerState) -> None:
        logger.info("%s left", worker.hostname)
        self._call_handlers("node_leave", worker)

    def on_node_lost(self, worker: WorkerState) -> None:
        logger.info("missed heartbeat from %s", worker.hostname)
        self._call_handlers("node_lost", worker)

    def periodic(self) -> None:
        """Log and forget the workers whose heartbeats stopped."""
        workers = self.state.workers
        for worker in [worker for worker in workers.values() if not worker.alive]:
            self.on_node_lost(worker)
            workers.pop(worker.hostname or "", None)

    def _call_handlers(self, kind: str, worker: WorkerState) -> None:
        for handler in list(self.on[kind]):
            try:
                handler(worker)
            except Exception as exc:
                logger.exception("Ignored error from handler %r: %r", handler, exc)


def worker_gossip(app: Any, dispatcher: EventDispatcher, without_gossip: bool) -> Gossip:
    """The worker's gossip, sending through its ``dispatcher``; disabled (and logged) by
    ``--without-gossip`` or when the worker sends no worker events (module docstring)."""
    because = ""
    if without_gossip:
        because = "--without-gossip"
    elif dispatcher.fanout is None:
        because = "this broker has no broadcast"
    elif not dispatcher.wants("worker-elect"):
        because = "this worker sends no worker events (--without-heartbeat)"
    if because:
        logger.info("Gossip with other workers is off: %s", because)
    return Gossip(app, dispatcher, dispatcher.hostname, enabled=not because,
                  disabled_because=because,
                  join_heard=bool(app.conf.worker_enable_remote_control))


__all__ = ["LOST_CHECK_INTERVAL", "ROUTING_KEY", "Gossip", "worker_gossip"]
