"""``ControlNode``: the worker's end of the pidbox (remote control), on its own thread.

It subscribes to the ``celery.pidbox`` fanout through the worker's channel, keeps the commands
addressed to this node (``destination``, or ``pattern`` + ``matcher``) that have not expired,
runs their handler (``commands.py``) and, when the command carries a ``reply_to``, publishes
``{hostname: answer}`` to the reply queue ``<routing_key>.<exchange>``
(``<oid>.reply.celery.pidbox``). Replies go through the channel's ``send_reply(exchange,
routing_key, message)`` when it has one (Redis: an LPUSH exactly as kombu does), else through
``publish`` to the queue of that name, which every broker routes the same way.

Handlers never touch worker internals: they see a read-only ``WorkerView`` (below) that the
worker implements, plus the few methods for the actions that change something. Commands
written for Celery (``@control_command``/``@inspect_command``, ``registry.py``) get a
Celery-shaped ``state`` built around the same view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from celeriac.control.mailbox import (
    PIDBOX_EXCHANGE,
    ControlRequest,
    LamportClock,
    build_reply,
    remote_control_unavailable,
    reply_queue_name,
    subscribe_node,
)
from celeriac.exceptions import InvalidMessage, OperationalError
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Channel, FanoutChannel, Outbound, Subscription

if TYPE_CHECKING:
    from celeriac.execution.request import Request
    from celeriac.worker.revoked import RevokedRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A request as ``inspect active/reserved/scheduled`` reports it."""

    request: Request
    acknowledged: bool = False
    time_start: float | None = None
    worker_pid: int | None = None
    eta: float | None = None


class WorkerView(Protocol):
    """What control handlers may see and do; implemented by the worker.

    Every method is called on the control thread and must be thread-safe (a snapshot copy of
    a list is enough). ``stats`` returns the worker-specific part of ``inspect stats``
    (``total``, ``pool``, ``broker``, ``prefetch_count``); the node adds pid, clock, uptime
    and rusage.
    """

    hostname: str
    revoked: RevokedRegistry

    def registered(self) -> Sequence[str]: ...

    def task_options(self, name: str) -> Mapping[str, Any]: ...

    def active(self) -> Sequence[TaskInfo]: ...

    def reserved(self) -> Sequence[TaskInfo]: ...

    def scheduled(self) -> Sequence[TaskInfo]: ...

    def queues(self) -> Sequence[str]: ...

    def stats(self) -> dict[str, Any]: ...

    def conf(self, with_defaults: bool = False) -> dict[str, Any]: ...

    def terminate(self, task_id: str, signum: int) -> bool:
        """Kill the running task ``task_id`` with ``signum``; False if it is not running here."""
        ...

    def set_rate_limit(self, task_name: str, rate: str | None) -> None: ...

    def set_time_limit(self, task_name: str, soft: float | None, hard: float | None) -> None: ...

    def shutdown(self) -> None:
        """Begin a warm shutdown (returns at once)."""
        ...

    def send_heartbeat(self) -> bool:
        """Send a ``worker-heartbeat`` event now; False when this worker sends no events."""
        ...

    def election(self, id: str, topic: str, action: Any) -> bool:
        """Take part in gossip election ``id``; False when this worker runs no gossip."""
        ...

    def set_task_events(self, enabled: bool) -> bool | None:
        """Turn ``task-*`` events on or off (``-E``) at run time.

        True when that changed something, False when they already were, None when this
        worker has no event dispatcher at all.
        """
        ...

    # -- pool size, restarts and consumed queues (``pool_commands.py``) -----------------------
    # Each raises with Celery's error (ValueError, AttributeError) when it cannot be done.
    def pool_grow(self, n: int) -> None: ...

    def pool_shrink(self, n: int) -> None: ...

    def pool_restart(self, modules: Sequence[str] | None, reload: bool) -> None: ...

    def autoscale(self, maximum: int | None, minimum: int | None) -> tuple[int, int]:
        """Set the autoscaler's bounds; returns the (max, min) now in force."""
        ...

    def add_consumer(self, queue: str, exchange: str | None, exchange_type: str | None,
                     routing_key: str | None, options: Mapping[str, Any]) -> None:
        """Declare ``queue`` and consume from it too."""
        ...

    def cancel_consumer(self, queue: str) -> None: ...


class ControlNode:
    """The ``celeriac-control`` thread; ``start`` subscribes before returning."""

    def __init__(self, channel: Channel, view: WorkerView, *,
                 exchange: str = PIDBOX_EXCHANGE, poll_timeout: float = 0.2,
                 broker: str = "this") -> None:
        self.channel = channel
        self.broker = broker
        self.view = view
        self.exchange = exchange
        self.poll_timeout = poll_timeout
        self.clock = LamportClock()
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: Subscription | None = None

    @property
    def hostname(self) -> str:
        return self.view.hostname

    def start(self) -> bool:
        """Subscribe and start the thread; False (logged) when the broker has no fanout."""
        if not isinstance(self.channel, FanoutChannel):
            logger.warning("%s", remote_control_unavailable(self.broker))
            return False
        try:
            self._subscription = subscribe_node(self.channel, self.hostname, self.exchange)
        except OperationalError as exc:  # RabbitMQ: another node of this name holds the queue
            logger.warning("Remote control unavailable for %s: %s", self.hostname, exc)
            return False
        self._thread = threading.Thread(target=self._run, name="celeriac-control", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _run(self) -> None:
        while not self._stop.is_set():
            subscription = self._subscription
            if subscription is None:
                return
            try:
                messages = subscription.get(self.poll_timeout)
            except Exception as exc:
                logger.warning("Remote control: receiving failed, retrying in 1 s: %r", exc)
                self._stop.wait(1.0)
                continue
            for message in messages:
                if self._stop.is_set():
                    break
                self.handle(message)

    # -- one command ---------------------------------------------------------------------
    def handle(self, message: TaskMessage) -> None:
        """Parse, filter, run and answer one broadcast; never raises."""
        try:
            request = ControlRequest.from_message(message)
        except InvalidMessage as exc:
            logger.warning("Ignoring a malformed remote-control message: %s", exc)
            return
        self.clock.adjust(request.clock)
        if request.expired() or not request.addressed_to(self.hostname):
            return
        answer = self.dispatch(request.method, request.arguments)
        if request.ticket and request.reply_to:
            self._reply(request, answer)

    def dispatch(self, method: str, arguments: Mapping[str, Any]) -> Any:
        """Run the handler of ``method``; errors become ``{"error": ...}`` as in Celery."""
        from celeriac.worker.control.commands import COMMANDS

        handler = COMMANDS.get(method)
        if handler is None:
            logger.warning("Remote control: no such command %r", method)
            return {"error": f"No such command: {method}"}
        logger.debug("Remote control: %s(%r)", method, dict(arguments))
        try:
            return handler(self, dict(arguments))
        except Exception as exc:
            logger.error("Remote control command %s failed: %r", method, exc, exc_info=True)
            return {"error": repr(exc)}

    def _reply(self, request: ControlRequest, answer: Any) -> None:
        reply_to = request.reply_to or {}
        exchange = str(reply_to.get("exchange") or "")
        routing_key = str(reply_to.get("routing_key") or "")
        if not routing_key or request.ticket is None:
            return
        try:
            message = build_reply(self.hostname, request.ticket, answer, self.clock.forward())
        except (TypeError, ValueError) as exc:
            message = build_reply(self.hostname, request.ticket,
                                  {"error": f"reply is not JSON: {exc}"}, self.clock.value)
        try:
            send_reply = getattr(self.channel, "send_reply", None)
            if callable(send_reply):
                send_reply(exchange, routing_key, message)
            else:
                queue = reply_queue_name(routing_key, exchange) if exchange else routing_key
                self.channel.publish([Outbound(message, routing_key=queue)])
        except Exception as exc:
            logger.warning("Remote control: could not reply to %s: %r", request.method, exc)


__all__ = ["ControlNode", "TaskInfo", "WorkerView"]
