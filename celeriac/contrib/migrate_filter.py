"""The consuming half of ``celeriac.contrib.migrate``: Celery's ``Filterer``/``start_filter``
on celeriac's transports.

A pass fetches (leases) messages from the source queues and hands each to the filter as
``(body, message)``; ``message`` is the kombu-shaped ``celeriac.bootsteps.Message`` (``ack()``,
``headers``, ``properties``, ``delivery_info``, raw ``body``). Leases are how kombu's
unacknowledged messages behave: a message not acknowledged during the pass (filtered out,
copied without ``ack_messages``, undecodable) stays invisible until the pass ends, so it is
seen once, and then goes back to its queue. The pass ends when a fetch waits ``timeout``
seconds for nothing (unless ``forever``), or on ``StopFiltering``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from itertools import cycle, islice
from typing import TYPE_CHECKING, Any

from celeriac.bootsteps import LEASE_RENEW_SECONDS, Message
from celeriac.exceptions import ContentDisallowed, DecodeError
from celeriac.serialization.registry import normalize_accept

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.broker_connection import BrokerConnection
    from celeriac.transport.base import Channel, Delivery

logger = logging.getLogger(__name__)

Filter = Callable[[Any, Message], Any]
#: Messages fetched per round trip.
FETCH_BATCH = 100


class StopFiltering(Exception):
    """Semi-predicate used to signal filter stop."""


class State:
    """Migration progress state."""

    count = 0
    filtered = 0
    total_apx = 0

    @property
    def strtotal(self) -> str:
        if not self.total_apx:
            return "?"
        return str(self.total_apx)

    def __repr__(self) -> str:
        if self.filtered:
            return f"^{self.filtered}"
        return f"{self.count}/{self.strtotal}"


def prepare_queues(queues: str | list[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``'a:b,c'`` / ``['a:b', 'c']`` / ``{'a': 'b'}`` -> ``{'a': 'b', 'c': 'c'}`` (renames)."""
    if isinstance(queues, str):
        queues = queues.split(",")
    if isinstance(queues, list):
        pairs = (tuple(islice(cycle(q.split(":")), None, 2)) for q in queues)
        return {source: dest for source, dest in pairs}
    return dict(queues or {})


def task_name_of(body: Any, message: Message) -> str | None:
    """The task name: the ``task`` header (protocol 2) or the body's (protocol 1)."""
    name = message.headers.get("task")
    if name is None and isinstance(body, Mapping):
        name = body.get("task")
    return str(name) if name is not None else None


def task_id_of(body: Any, message: Message) -> str | None:
    """The task id: the ``id`` header (protocol 2), ``correlation_id``, or the body's."""
    task_id = message.headers.get("id") or message.properties.get("correlation_id")
    if task_id is None and isinstance(body, Mapping):
        task_id = body.get("id")
    return str(task_id) if task_id is not None else None


def queue_names(app: Celery, queues: Iterable[Any] | None) -> list[str]:
    """Names of ``queues`` (names, celeriac or kombu ``Queue``s), default the app's queues."""
    names = [str(getattr(queue, "name", queue)) for queue in queues or ()]
    return names or list(app.amqp.queues)


class Filterer:
    """One filtering pass over ``consume_from`` on the broker of ``conn``."""

    def __init__(self, app: Celery, conn: BrokerConnection, filter: Filter,
                 limit: int | None = None, timeout: float = 1.0, ack_messages: bool = False,
                 tasks: str | Iterable[str] | None = None, queues: Any = None,
                 callback: Callable[[State, Any, Message], Any] | None = None,
                 forever: bool = False, on_declare_queue: Callable[[str], Any] | None = None,
                 consume_from: Iterable[Any] | None = None, state: State | None = None,
                 accept: Iterable[str] | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
        self.app = app
        self.conn = conn
        self.filter = filter
        self.limit = limit
        self.timeout = timeout
        self.ack_messages = ack_messages
        self.tasks = set(tasks.split(",") if isinstance(tasks, str) else tasks or ())
        self.queues = prepare_queues(queues)
        self.callback = callback
        self.forever = forever
        self.on_declare_queue = on_declare_queue
        self.consume_from = queue_names(app, consume_from or list(self.queues))
        self.state = state or State()
        self.accept = normalize_accept(accept or app.conf.accept_content or ["json"])

    def start(self) -> State:
        """Run the pass; every message not acknowledged goes back to its queue at the end."""
        channel = self.conn.channel()
        held: list[Delivery] = []
        try:
            self.declare_queues(channel)
            self._consume(channel, held)
        finally:
            try:
                if held:
                    channel.reject(held, requeue=True)
            finally:
                channel.close()
        return self.state

    def declare_queues(self, channel: Channel) -> None:
        """Declare the renamed queues on the destination; count what waits in the sources."""
        channel.declare(self.consume_from)
        for name in self.consume_from:
            if self.queues and name not in self.queues:
                continue
            if self.on_declare_queue is not None:
                self.on_declare_queue(name)
            self.state.total_apx += channel.size(name)

    def _consume(self, channel: Channel, held: list[Delivery]) -> None:
        renewed = time.monotonic()
        while True:
            if time.monotonic() - renewed > LEASE_RENEW_SECONDS:
                channel.heartbeat()  # keeps the held leases ours during a long pass
                renewed = time.monotonic()
            deliveries = channel.fetch(self.consume_from, FETCH_BATCH, self.timeout)
            if not deliveries:
                if self.forever:
                    continue
                return
            for index, delivery in enumerate(deliveries):
                message = Message(channel, delivery, self.accept)
                try:
                    self._handle(message)
                except StopFiltering:
                    held.extend(deliveries[index + 1:])
                    return
                finally:
                    if not message.acknowledged:
                        held.append(delivery)

    def _handle(self, message: Message) -> None:
        try:
            body = message.decode()
        except (ContentDisallowed, DecodeError) as exc:
            logger.warning("Skipping message %s (left in %s): %s",
                           message.headers.get("id"), message.delivery.queue, exc)
            return
        if self.tasks and task_name_of(body, message) not in self.tasks:
            return
        self.filter(body, message)
        self.state.count += 1
        if self.ack_messages and not message.acknowledged:
            message.ack()
        if self.callback is not None:
            self.callback(self.state, body, message)
        if self.limit and self.state.count >= self.limit:
            raise StopFiltering()


def start_filter(app: Celery, conn: BrokerConnection, filter: Filter, limit: int | None = None,
                 timeout: float = 1.0, ack_messages: bool = False,
                 tasks: str | Iterable[str] | None = None, queues: Any = None,
                 callback: Callable[[State, Any, Message], Any] | None = None,
                 forever: bool = False, on_declare_queue: Callable[[str], Any] | None = None,
                 consume_from: Iterable[Any] | None = None, state: State | None = None,
                 accept: Iterable[str] | None = None, **kwargs: Any) -> State:
    """Filter tasks: run ``filter(body, message)`` on each message of the source queues."""
    return Filterer(app, conn, filter, limit=limit, timeout=timeout, ack_messages=ack_messages,
                    tasks=tasks, queues=queues, callback=callback, forever=forever,
                    on_declare_queue=on_declare_queue, consume_from=consume_from, state=state,
                    accept=accept, **kwargs).start()


__all__ = ["Filterer", "State", "StopFiltering", "prepare_queues", "start_filter",
           "task_id_of", "task_name_of"]
