"""``app.control``: Celery's remote-control client (revoke, rate limits, shutdown, inspect).

Every command is a pidbox broadcast (``mailbox.py``); the ones that want answers collect the
replies that arrive within ``timeout``. ``revoke`` additionally writes the ids to the broker's
durable revocation store (``revocations.py``), so that workers started after the call refuse
the task too, which Celery itself does not guarantee.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.control.inspect import Inspect
from celeriac.control.mailbox import Mailbox, Reply, pidbox_exchanges
from celeriac.control.revocations import (
    DEFAULT_EXPIRES,
    RevocationStore,
    open_revocation_store,
    stamp_entries,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transport.base import Channel

Destination = str | Sequence[str] | None


def _destinations(destination: Destination) -> list[str] | None:
    if destination is None:
        return None
    return [destination] if isinstance(destination, str) else list(destination)


def _check_same_broker(broker_url: str, *handles: Any) -> None:
    """Celery's ``connection=``/``channel=`` arguments pick a broker connection; celeriac's
    control always talks to the app's broker, so one elsewhere is refused, not ignored."""
    for handle in handles:
        url = getattr(handle, "url", None) or getattr(
            getattr(handle, "connection", None), "url", None)
        if handle is not None and url != broker_url:
            raise ValueError("app.control uses the app's own broker; a connection or channel "
                             "to another broker (or of an unknown kind) cannot be used")


class Control:
    """Built lazily by the app (``app.control``); opens its channel on first use.

    ``channel`` replaces the channel the mailbox would open from ``app.transport`` (tests,
    or a channel wrapped with extra broadcast support); the mailbox closes it.
    """

    def __init__(self, app: Celery, channel: Channel | None = None) -> None:
        self.app = app
        self._channel = channel
        self._mailbox: Mailbox | None = None
        self._store: RevocationStore | None = None
        self._lock = threading.Lock()

    @property
    def mailbox(self) -> Mailbox:
        with self._lock:
            if self._mailbox is None:
                from celeriac.config.urls import scheme_of

                url = self.app.broker_url
                channel = self._channel or self.app.transport.channel()
                exchange, reply = pidbox_exchanges(self.app.conf.control_exchange)
                self._mailbox = Mailbox(channel, self.app.oid, broker=f"{scheme_of(url)}://",
                                        exchange=exchange, reply_exchange=reply)
            return self._mailbox

    @property
    def revocations(self) -> RevocationStore:
        with self._lock:
            if self._store is None:
                self._store = open_revocation_store(self.app.transport)
            return self._store

    def broadcast(self, command: str, arguments: dict[str, Any] | None = None,
                  destination: Destination = None, connection: Any = None,
                  reply: bool = False, timeout: float = 1.0, limit: int | None = None,
                  callback: Callable[[Reply], None] | None = None,
                  channel: Any = None, pattern: str | None = None,
                  matcher: str | None = None, **extra: Any) -> list[Reply] | None:
        """Send ``command`` to every worker (or ``destination``); replies when ``reply``.

        ``connection``/``channel`` (Celery's) may be given when they are on the app's own
        broker, which the mailbox uses anyway; another broker raises ``ValueError``.
        """
        _check_same_broker(self.app.broker_url, connection, channel)
        replies = self.mailbox.call(command, {**(arguments or {}), **extra},
                                    destination=_destinations(destination), pattern=pattern,
                                    matcher=matcher, reply=reply, timeout=timeout,
                                    limit=limit, callback=callback)
        return replies if reply else None

    # -- actions ---------------------------------------------------------------------------
    def revoke(self, task_id: str | Sequence[str], destination: Destination = None,
               terminate: bool = False, signal: str | int | None = "SIGTERM",
               expires: float = DEFAULT_EXPIRES, **kwargs: Any) -> list[Reply] | None:
        """Revoke ``task_id`` (one id or many): no worker will start it, now or later.

        With ``terminate`` a worker running it kills it with ``signal``. ``expires`` is how
        long the durable record lasts (default 3 hours, Celery's REVOKE_EXPIRES).
        """
        ids = [task_id] if isinstance(task_id, str) else [str(t) for t in task_id]
        self.revocations.add(ids, expires)
        arguments = {"task_id": task_id if isinstance(task_id, str) else ids,
                     "terminate": terminate, "signal": signal or "SIGTERM"}
        return self.broadcast("revoke", arguments, destination=destination, **kwargs)

    def revoke_by_stamped_headers(self, headers: dict[str, Any] | list[str],
                                  destination: Destination = None, terminate: bool = False,
                                  signal: str | int | None = "SIGTERM",
                                  expires: float = DEFAULT_EXPIRES,
                                  **kwargs: Any) -> list[Reply] | None:
        """Revoke every task stamped with one of ``headers``' values (``{stamp: value(s)}``).

        Workers refuse such tasks from now on and, with ``terminate``, kill the running ones.
        Like ``revoke``, a durable record (for ``expires`` seconds) reaches workers started
        later too (``worker/revoked_stamps.py``).
        """
        self.revocations.add(stamp_entries(headers), expires)
        return self.broadcast("revoke_by_stamped_headers",
                              {"headers": headers, "terminate": terminate, "signal": signal},
                              destination=destination, **kwargs)

    def terminate(self, task_id: str | Sequence[str], destination: Destination = None,
                  signal: str | int = "SIGTERM", **kwargs: Any) -> list[Reply] | None:
        return self.revoke(task_id, destination=destination, terminate=True, signal=signal,
                           **kwargs)

    def rate_limit(self, task_name: str, rate_limit: str | int | None,
                   destination: Destination = None, **kwargs: Any) -> list[Reply] | None:
        """Change ``task_name``'s rate limit (``"10/m"``; None or 0 disables it) at run time."""
        return self.broadcast("rate_limit", {"task_name": task_name, "rate_limit": rate_limit},
                              destination=destination, **kwargs)

    def time_limit(self, task_name: str, soft: float | None = None, hard: float | None = None,
                   destination: Destination = None, **kwargs: Any) -> list[Reply] | None:
        kwargs.setdefault("reply", True)
        return self.broadcast("time_limit", {"task_name": task_name, "soft": soft, "hard": hard},
                              destination=destination, **kwargs)

    def shutdown(self, destination: Destination = None, **kwargs: Any) -> list[Reply] | None:
        """Ask workers for a warm shutdown."""
        return self.broadcast("shutdown", destination=destination, **kwargs)

    def election(self, id: str, topic: str, action: Any = None,
                 connection: Any = None) -> None:
        """Hold gossip election ``id``: the workers that take part in gossip agree on one
        leader, which runs ``action`` for ``topic`` (``'task'``: ``action`` is a signature, or
        its dict, to send). Celery's: no reply is asked for; a ``connection`` must reach this
        app's broker."""
        self.broadcast("election", {"id": id, "topic": topic, "action": action},
                       connection=connection)

    def enable_events(self, destination: Destination = None,
                      **kwargs: Any) -> list[Reply] | None:
        """Ask workers to send ``task-*`` events (``-E``)."""
        return self.broadcast("enable_events", destination=destination, **kwargs)

    def disable_events(self, destination: Destination = None,
                       **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("disable_events", destination=destination, **kwargs)

    def heartbeat(self, destination: Destination = None, **kwargs: Any) -> list[Reply] | None:
        """Ask workers to send a ``worker-heartbeat`` event now."""
        return self.broadcast("heartbeat", destination=destination, **kwargs)

    # -- pool and queues (the worker side is ``worker/control/pool_commands.py``) -----------
    def pool_grow(self, n: int = 1, destination: Destination = None,
                  **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("pool_grow", {"n": n}, destination=destination, **kwargs)

    def pool_shrink(self, n: int = 1, destination: Destination = None,
                    **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("pool_shrink", {"n": n}, destination=destination, **kwargs)

    def autoscale(self, max: int, min: int, destination: Destination = None,
                  **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("autoscale", {"max": max, "min": min}, destination=destination,
                              **kwargs)

    def pool_restart(self, modules: Sequence[str] | None = None, reload: bool = False,
                     reloader: Any = None, destination: Destination = None,
                     **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("pool_restart",
                              {"modules": list(modules) if modules else modules,
                               "reload": reload, "reloader": reloader},
                              destination=destination, **kwargs)

    def add_consumer(self, queue: str, exchange: str | None = None,
                     exchange_type: str = "direct", routing_key: str | None = None,
                     options: dict[str, Any] | None = None, destination: Destination = None,
                     **kwargs: Any) -> list[Reply] | None:
        """Ask workers to consume from ``queue`` too (``options``: more queue arguments)."""
        arguments = {"queue": queue, "exchange": exchange, "exchange_type": exchange_type,
                     "routing_key": routing_key, **(options or {})}
        return self.broadcast("add_consumer", arguments, destination=destination, **kwargs)

    def cancel_consumer(self, queue: str, destination: Destination = None,
                        **kwargs: Any) -> list[Reply] | None:
        return self.broadcast("cancel_consumer", {"queue": queue}, destination=destination,
                              **kwargs)

    def purge(self, connection: Any = None) -> int:
        """Delete every waiting message of the app's task queues; returns how many.

        The queues are ``task_queues`` (else ``task_default_queue``), as Celery's.
        ``connection`` must be on the app's broker (``ValueError`` otherwise).
        """
        from celeriac.routing.queues import queue_set

        _check_same_broker(self.app.broker_url, connection)

        names = list(queue_set(self.app.conf)) if self.app.conf.get("task_queues") else [
            str(self.app.conf.task_default_queue)]
        channel = self.app.transport.channel()
        try:
            return sum(channel.purge(name) for name in names)
        finally:
            channel.close()

    discard_all = purge

    def ping(self, destination: Destination = None, timeout: float = 1.0,
             **kwargs: Any) -> list[Reply]:
        """``[{"w1@host": {"ok": "pong"}}, ...]`` for the workers that answered in time."""
        return self.broadcast("ping", destination=destination, reply=True, timeout=timeout,
                              **kwargs) or []

    def inspect(self, destination: Destination = None, timeout: float = 1.0,
                callback: Callable[[Reply], None] | None = None, limit: int | None = None,
                pattern: str | None = None, matcher: str | None = None) -> Inspect:
        return Inspect(self, destination=destination, timeout=timeout, callback=callback,
                       limit=limit, pattern=pattern, matcher=matcher)

    def close(self) -> None:
        with self._lock:
            mailbox, self._mailbox = self._mailbox, None
            store, self._store = self._store, None
        if mailbox is not None:
            mailbox.close()
        if store is not None:
            store.close()


__all__ = ["Control"]
