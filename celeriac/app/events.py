"""``app.events``: Celery's events facade on the app (the sending side).

* ``app.events.Dispatcher(connection=None, hostname=None, enabled=True, ...)``: an
  ``EventDispatcher`` as Celery's constructor takes it; ``connection`` (or ``channel``) is a
  broker channel, and without one the dispatcher opens its own and closes it on ``close``;
* ``app.events.default_dispatcher(hostname=None)``: a context manager yielding a dispatcher
  on the app's shared events channel (what ``Task.send_event`` uses);
* ``task_sent(outbound)``: the client's ``task-sent`` event (``task_send_sent_event``).

Every dispatcher of an app shares its Lamport clock (Celery's ``app.clock``). The receiving
side is here too: ``app.events.Receiver(connection, handlers={...})`` (an ``EventReceiver``
bound to this app and its clock) and ``app.events.State()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeriac.app.send import origin_nodename
from celeriac.events.dispatcher import BUFFER_LIMIT, EventDispatcher
from celeriac.events.receiver import EventReceiver, Handler
from celeriac.events.state import State
from celeriac.utils.lamport import LamportClock

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transport.base import Channel, Outbound


class Events:
    """What ``app.events`` is; built on first use, dropped with the app's connections.

    ``Dispatcher``, ``Receiver`` and ``State`` have the names and shapes of Celery's
    ``app.events`` attributes.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.clock = LamportClock()
        self._lock = threading.RLock()  # task_sent builds the sender under it, then the channel
        self._channel: Channel | None = None
        self._sender: EventDispatcher | None = None

    def Dispatcher(self, connection: Channel | None = None,  # Celery's name and shape
                   hostname: str | None = None, enabled: bool = True,
                   channel: Channel | None = None, *, serializer: str | None = None,
                   groups: Iterable[str] | None = None,
                   buffer_group: Iterable[str] | None = None,
                   buffer_limit: int = BUFFER_LIMIT) -> EventDispatcher:
        """An event dispatcher on ``connection`` (or ``channel``), else on a channel of its own."""
        given = connection if connection is not None else channel
        conf = self.app.conf
        return EventDispatcher(
            given if given is not None else self.app.transport.channel(),
            hostname or origin_nodename(), enabled=enabled, groups=groups,
            exchange=str(conf.event_exchange or "celeryev"),
            serializer=serializer or str(conf.event_serializer or "json"),
            buffer_group=buffer_group, buffer_limit=buffer_limit, clock=self.clock,
            owns_channel=given is None)

    def Receiver(self, channel: Any = None,  # Celery's name and shape
                 handlers: Mapping[str, Handler] | None = None, routing_key: str = "#",
                 node_id: str | None = None, **options: Any) -> EventReceiver:
        """An event receiver on ``channel`` (a channel or transport), else the app's broker."""
        return EventReceiver(channel, handlers, routing_key, node_id, app=self.app, **options)

    def State(self, **options: Any) -> State:  # Celery's name
        """A fresh in-memory cluster ``State`` (feed it with ``state.event`` from a receiver)."""
        return State(**options)

    @contextmanager
    def default_dispatcher(self, hostname: str | None = None,
                           enabled: bool = True) -> Iterator[EventDispatcher]:
        """A dispatcher on the app's shared events channel, flushed when the block ends."""
        dispatcher = self.Dispatcher(self.shared_channel(), hostname, enabled)
        try:
            yield dispatcher
        finally:
            dispatcher.close()  # flushes; the shared channel stays open

    def task_sent(self, outbound: Outbound, queue: str) -> None:
        """``task-sent`` for a message just published (Celery's fields, from its headers)."""
        sender = self._sender
        if sender is None:
            with self._lock:
                if self._sender is None:
                    self._sender = self.Dispatcher(self.shared_channel())
                sender = self._sender
        headers = outbound.message.headers
        sender.publish("task-sent", {
            "uuid": headers.get("id"), "root_id": headers.get("root_id"),
            "parent_id": headers.get("parent_id"), "name": headers.get("task"),
            "args": headers.get("argsrepr"), "kwargs": headers.get("kwargsrepr"),
            "retries": headers.get("retries") or 0, "eta": headers.get("eta"),
            "expires": headers.get("expires"), "queue": queue,
            "exchange": outbound.exchange, "routing_key": outbound.routing_key,
        })

    def shared_channel(self) -> Channel:
        """The app's events channel, opened once (channels are thread-safe)."""
        if self._channel is None:
            with self._lock:
                if self._channel is None:
                    self._channel = self.app.transport.channel()
        return self._channel

    def close(self) -> None:
        channel, self._channel, self._sender = self._channel, None, None
        if channel is not None:
            channel.close()


__all__ = ["Events"]

