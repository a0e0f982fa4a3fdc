"""The worker's events: ``worker-online``/``-heartbeat``/``-offline`` and, with ``-E``, task events.

Worker events go out whether or not ``-E`` is given (Celery's do: monitors and other workers
rely on them), unless ``--without-heartbeat``: then, as in Celery, there is no heart and so no
worker event at all. Task events (``worker_send_task_events`` / ``-E``, or the
``enable_events`` control command at run time) are built on the consumer thread, which learns
every outcome whatever the pool (a prefork child reports its outcome to it), and buffered
into ``task.multi`` lists that go out every 0.1 s or 500 events (``EventDispatcher``).

The consumer calls the ``task_*`` methods only after testing ``tasks``, a plain attribute:
with task events off the hot path pays two attribute reads per message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.event import TASK_GROUP, WORKER_GROUP, load_average, software_info
from celeriac.exceptions import NotRegistered
from celeriac.execution.outcome import Disposition, Outcome
from celeriac.execution.request import Request
from celeriac.transport.base import FanoutChannel
from celeriac.utils.saferepr import saferepr

if TYPE_CHECKING:
    from celeriac.protocol.message import TaskMessage
    from celeriac.transport.base import Channel
    from celeriac.worker.worker import Worker

logger = logging.getLogger(__name__)

#: Celery's heart beats every 2 s unless ``--heartbeat-interval`` says otherwise.
DEFAULT_HEARTBEAT_INTERVAL = 2.0
#: Celery's ``Task.resultrepr_maxsize``: how much of a result ``task-succeeded`` carries.
RESULT_REPR_MAXSIZE = 1024


class WorkerEvents:
    """Sends this worker's events through ``channel``; see the module docstring.

    Without a ``channel`` it sends nothing (what the worker holds before it is set up).

    Args:
        counts: ``(active, processed)`` now, for heartbeats.
        task_events: send ``task-*`` events (``-E``).
        heartbeat: send worker events (False for ``--without-heartbeat``).
        freq: seconds between heartbeats.
    """

    def __init__(self, channel: Channel | None, hostname: str,
                 counts: Callable[[], tuple[int, int]] = lambda: (0, 0), *,
                 task_events: bool = False, heartbeat: bool = True,
                 freq: float = DEFAULT_HEARTBEAT_INTERVAL, exchange: str = "celeryev",
                 serializer: str = "json") -> None:
        groups = set() if not heartbeat else {WORKER_GROUP}
        if task_events:
            groups.add(TASK_GROUP)
        if channel is not None and not isinstance(channel, FanoutChannel) and not task_events:
            # Worker events are on by default: a broker that cannot broadcast is no error
            # unless -E asked for task events (then the dispatcher warns).
            logger.info("Worker events are not sent: this broker channel cannot broadcast")
            groups = set()
        self.dispatcher = EventDispatcher(
            channel, hostname, enabled=bool(groups), groups=groups, exchange=exchange,
            serializer=serializer, buffer_group={TASK_GROUP})
        self.heartbeat = heartbeat and self.dispatcher.enabled
        self.freq = float(freq)
        self.counts = counts
        self._software: dict[str, Any] = dict(software_info())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tasks = False
        self.set_task_events(task_events)
        self._buffer_event = self.dispatcher.buffer_event
        self._hostname, self._pid = hostname, self.dispatcher.pid
        #: Signals sent by ``revoke(terminate=True)``, for the ``task-revoked`` that follows.
        self._terminating: dict[str, int] = {}

    # -- worker events -----------------------------------------------------------------------
    def start(self) -> None:
        """``worker-online``, then a heartbeat every ``freq`` seconds on a thread of its own."""
        if not self.heartbeat:
            return
        self._send_worker("worker-online")
        self._thread = threading.Thread(target=self._beat, name="celeriac-event-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.freq):
            self.send_heartbeat()

    def send_heartbeat(self) -> bool:
        """One ``worker-heartbeat`` now (also what the ``heartbeat`` control command does);
        False when this worker sends no worker events."""
        if self.heartbeat:
            self._send_worker("worker-heartbeat")
            if signals.heartbeat_sent.has_receivers:
                signals.heartbeat_sent.send(sender=self)
        return self.heartbeat

    def stop(self) -> None:
        """Warm shutdown: send what task events wait, then ``worker-offline``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        try:
            self.dispatcher.flush()
        finally:
            if self.heartbeat:
                self._send_worker("worker-offline")

    def _send_worker(self, type_: str) -> None:
        active, processed = self.counts()
        self.dispatcher.send(type_, freq=self.freq, active=active, processed=processed,
                             loadavg=load_average(), **self._software)

    # -- switching task events -----------------------------------------------------------------
    def set_task_events(self, enabled: bool) -> bool | None:
        """Turn ``task-*`` events on or off now (``enable_events``/``disable_events``): True
        when that changed something, False when already so, None when nothing can be sent
        (a broker without broadcast)."""
        dispatcher = self.dispatcher
        if dispatcher.fanout is None:
            self.tasks = False
            return None
        changed = enabled != self.tasks
        groups = dispatcher.groups if dispatcher.groups is not None else set()
        if enabled:
            groups.add(TASK_GROUP)
        else:
            groups.discard(TASK_GROUP)
        dispatcher.groups = groups
        dispatcher.enabled = bool(groups)
        self.tasks = enabled
        return changed

    # -- task events (consumer thread; call only when ``tasks``) -----------------------------
    # The three per task build their event dict whole, in Celery's key order (``event.py``),
    # with placeholders the dispatcher stamps at flush (``utcoffset``, ``clock``): one dict
    # per event is what -E costs most (``EventDispatcher.buffer_event``).
    def task_received(self, request: Request) -> None:
        headers = request.headers
        get = headers.get
        argsrepr, kwargsrepr = get("argsrepr"), get("kwargsrepr")
        self._buffer_event({
            "hostname": self._hostname, "utcoffset": 0.0, "pid": self._pid, "clock": 0,
            "uuid": request.task_id, "name": request.task_name,
            "args": argsrepr if isinstance(argsrepr, str) else saferepr(request.args),
            "kwargs": kwargsrepr if isinstance(kwargsrepr, str) else saferepr(request.kwargs),
            "root_id": get("root_id"), "parent_id": get("parent_id"),
            "retries": get("retries") or 0, "eta": get("eta"), "expires": get("expires"),
            "timestamp": time.time(), "type": "task-received"})

    def task_started(self, request: Request) -> None:
        self._buffer_event({"hostname": self._hostname, "utcoffset": 0.0, "pid": self._pid,
                            "clock": 0, "uuid": request.task_id, "timestamp": time.time(),
                            "type": "task-started"})

    def task_finished(self, finished: Iterable[tuple[Request, Outcome]]) -> None:
        """The outcome events of a batch: succeeded, failed, retried or rejected.

        A terminated task's ``task-revoked`` comes through ``task_revoked``.
        """
        for _, outcome in finished:
            if outcome.state == states.SUCCESS and outcome.meta is None:  # results ignored
                self._buffer_event({
                    "hostname": self._hostname, "utcoffset": 0.0, "pid": self._pid,
                    "clock": 0, "uuid": outcome.task_id,
                    "result": outcome.result_repr or "None", "runtime": outcome.runtime,
                    "timestamp": time.time(), "type": "task-succeeded"})
                continue
            if outcome.state == states.REJECTED and outcome.meta is not None:
                # Reject(requeue=False) recorded a FAILURE: Celery sends task-failed first.
                failed = outcome_event(replace(outcome, state=states.FAILURE))
                if failed is not None:
                    self.dispatcher.buffer(*failed)
            event = outcome_event(outcome)
            if event is not None:
                self.dispatcher.buffer(*event)

    def terminating(self, task_id: str, signum: int) -> None:
        """``task_id`` is being terminated with ``signum`` (any thread)."""
        if self.tasks:
            self._terminating[task_id] = signum

    def task_revoked(self, message: TaskMessage, *, terminated: bool = False,
                     signum: int | None = None, expired: bool = False) -> None:
        if terminated and signum is None:
            signum = self._terminating.pop(message.task_id or "", None)
        self.dispatcher.buffer("task-revoked", {"uuid": message.task_id,
                                                "terminated": terminated, "signum": signum,
                                                "expired": expired})

    def task_refused(self, message: TaskMessage, error: Exception | None) -> None:
        """An unknown task: ``task-failed`` with ``NotRegistered(<name>)``, as Celery's
        consumer sends it (other refused messages send no event there either)."""
        if isinstance(error, NotRegistered):
            self.dispatcher.buffer("task-failed", {
                "uuid": message.task_id,
                "exception": f"NotRegistered({message.task_name or ''!r})"})

    def flush(self) -> None:
        """What the consumer calls every round: send task events that waited long enough."""
        self.dispatcher.flush_due()


def outcome_event(outcome: Outcome) -> tuple[str, dict[str, Any]] | None:
    """The event Celery sends for ``outcome``, as ``(type, fields)``; None for none."""
    state = outcome.state
    meta = outcome.meta
    if state == states.SUCCESS:
        result = (saferepr(meta.result, RESULT_REPR_MAXSIZE) if meta is not None
                  else outcome.result_repr or "None")
        return "task-succeeded", {"uuid": outcome.task_id, "result": result,
                                  "runtime": outcome.runtime}
    if state in (states.FAILURE, states.RETRY):
        exception = (exception_repr(meta.result) if meta is not None else None) or outcome.reason
        traceback = (meta.traceback if meta is not None else None) or ""
        return ("task-failed" if state == states.FAILURE else "task-retried",
                {"uuid": outcome.task_id, "exception": exception, "traceback": traceback})
    if state == states.REJECTED:
        return "task-rejected", {"uuid": outcome.task_id,
                                 "requeue": outcome.disposition is Disposition.REQUEUE}
    return None


def exception_repr(encoded: Any) -> str | None:
    """``ValueError('E')`` from a stored exception record (``exc_type``, ``exc_message``):
    Celery's ``task-failed`` carries the exception's repr, which is this."""
    if not isinstance(encoded, dict) or not isinstance(encoded.get("exc_type"), str):
        return None
    args = encoded.get("exc_message")
    if not isinstance(args, list | tuple):
        args = [] if args is None else [args]
    return f"{encoded['exc_type']}({', '.join(saferepr(arg) for arg in args)})"


def worker_events(worker: Worker, channel: Channel) -> WorkerEvents:
    """The events of ``worker`` as its options and settings say (``-E``, heartbeat flags,
    ``event_exchange``, ``event_serializer``)."""
    conf = worker.app.conf
    options = worker.options
    consumer = worker.consumer
    task_events = bool(conf.worker_send_task_events)  # -E sets it

    def counts() -> tuple[int, int]:
        return (len(consumer.active), consumer.total_processed) if consumer else (0, 0)

    return WorkerEvents(channel, worker.hostname, counts, task_events=task_events,
                        heartbeat=options.heartbeat_interval != 0,
                        freq=options.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL,
                        exchange=str(conf.event_exchange or "celeryev"),
                        serializer=str(conf.event_serializer or "json"))


__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "WorkerEvents",
    "exception_repr",
    "outcome_event",
    "worker_events",
]
