"""Where a task message goes, resolved exactly as Celery 5 resolves it.

Two steps, as in Celery (``celery.app.routes.Router.route`` then ``send_task_message``):

1. **Which route.** Call options (``queue=``, ``exchange=``, ``routing_key=``, ...) start the
   route; the task's own ``queue`` attribute counts as a call option. ``task_routes`` (a dict,
   a list of dicts, glob or regex keys, callables, or import strings of callables) is
   consulted in order; the first match is merged *under* the call options (call options win).
   Without a match and without ``queue=``, the default queue is used. A queue name becomes
   its ``Queue`` through the ``QueueSet`` (created if missing, else ``QueueNotFound``).
2. **Which exchange and routing key.** The exchange type is the route's ``exchange_type`` or
   the queue's exchange's type. For a *direct* type without both an exchange and a routing
   key, the message goes to the nameless default exchange with routing key = the queue name
   (what Celery 5.7 sends, wire-protocol.md §3.2). Otherwise, with no exchange given, the
   queue's exchange and ``routing_key or queue binding key or task_default_routing_key`` are
   used: ``Queue('web', Exchange('tasks', 'topic'), 'web.#')`` is published to ``tasks`` with
   routing key ``web.#`` unless the call names a more specific key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celeriac.routing.entities import Queue
from celeriac.routing.queues import QueueSet

RouteMap = Mapping[str, Any]
Router = Callable[..., Any]

#: Options a route (or call) may set that decide the destination.
_DESTINATION_KEYS = ("queue", "exchange", "routing_key", "exchange_type", "priority")


@dataclass(frozen=True, slots=True)
class Route:
    """The resolved destination of one message.

    ``exchange`` ``''`` means the default exchange (``routing_key`` is then the queue name);
    ``entity`` is the ``Queue`` Celery would declare before publishing, when there is one.
    """

    queue: str
    exchange: str = ""
    routing_key: str = ""
    priority: int | None = None
    exchange_type: str = "direct"
    entity: Queue | None = None


class _MapRoute:
    """Celery's ``MapRoute``: exact names first, then glob (``*``) and regex keys in order."""

    def __init__(self, routes: Mapping[Any, Any] | Sequence[tuple[Any, Any]]) -> None:
        items = routes.items() if isinstance(routes, Mapping) else routes
        self.exact: dict[str, Any] = {}
        self.patterns: list[tuple[re.Pattern[str], Any]] = []
        for key, target in items:
            if isinstance(key, re.Pattern):
                self.patterns.append((key, target))
            elif "*" in key:
                self.patterns.append((re.compile(fnmatch.translate(key)), target))
            else:
                self.exact[key] = target

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.exact:
            return self.exact[name]
        for regex, target in self.patterns:
            if regex.match(name):
                return target
        return None


def _prepare(routes: Any) -> list[Router]:
    """``task_routes`` as a list of callables (Celery's ``routes.prepare``)."""
    if routes is None:
        return []
    if not isinstance(routes, list | tuple):
        routes = (routes,)
    prepared: list[Router] = []
    for route in routes:
        if isinstance(route, Mapping | list | tuple):
            prepared.append(_MapRoute(route))
        elif isinstance(route, str):
            from celeriac.utils.imports import import_symbol

            target = import_symbol(route)
            prepared.append(target() if hasattr(target, "route_for_task") else target)
        else:
            prepared.append(route)
    return prepared


def _as_dict(target: Any) -> dict[str, Any]:
    """A route target: a queue name or ``Queue``, or a dict of options."""
    if isinstance(target, str | Queue):
        return {"queue": target}
    if isinstance(target, Mapping):
        return {key: value for key, value in target.items() if value is not None}
    raise TypeError(f"A task route must be a queue name, a Queue or a dict, not {target!r}")


def _name(value: Any) -> str:
    return str(getattr(value, "name", value) or "")


class TaskRouter:
    """Resolves a task name plus call options to a ``Route``; rules are prepared once."""

    def __init__(
        self, routes: Any, default_queue: str = "celery", queues: QueueSet | None = None
    ) -> None:
        self._routes = _prepare(routes)
        self.queues = queues if queues is not None else QueueSet(default_queue=default_queue)
        self._static: dict[str, dict[str, Any] | None] = {}

    def route(
        self,
        name: str,
        options: Mapping[str, Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        task_queue: str | None = None,
    ) -> Route:
        """The destination of task ``name`` called with ``options``.

        Raises:
            QueueNotFound: a queue name is unknown and ``task_create_missing_queues`` is off.
        """
        call = {key: options[key] for key in _DESTINATION_KEYS if options.get(key) is not None}
        if task_queue and "queue" not in call:
            call["queue"] = task_queue
        call = self._expand(call)
        routed = self._lookup(name, args, kwargs or {}, options) if self._routes else None
        if routed is not None:
            merged = {**self._expand(routed), **call}
        elif "queue" not in call:
            merged = {"queue": self.queues.default_queue, **call}
        else:
            merged = call
        return self._destination(merged)

    def _expand(self, route: dict[str, Any]) -> dict[str, Any]:
        queue = route.get("queue")
        if queue is not None and not isinstance(queue, Queue):
            route = {**route, "queue": self.queues[_name(queue)]}
        return route

    @property
    def depends_on_arguments(self) -> bool:
        """True when a callable route may pick a destination from a call's arguments."""
        return any(not isinstance(rule, _MapRoute) for rule in self._routes)

    def _lookup(
        self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if name in self._static:
            cached = self._static[name]
            return None if cached is None else dict(cached)
        static = True
        for rule in self._routes:
            if isinstance(rule, _MapRoute):
                target = rule(name)
            else:
                static = False
                method = getattr(rule, "route_for_task", None)
                target = (
                    method(name, args, kwargs)
                    if method is not None
                    else rule(name, args, kwargs, options, task=None)
                )
            if target:
                found = _as_dict(target)
                if static:
                    self._static[name] = dict(found)
                return found
        if static:
            self._static[name] = None
        return None

    def _destination(self, merged: Mapping[str, Any]) -> Route:
        """Celery's ``send_task_message``: (exchange, routing key) from queue and options."""
        queue: Queue | None = merged.get("queue")
        exchange_opt = merged.get("exchange")
        routing_key = merged.get("routing_key")
        if queue is None and exchange_opt is None:
            queue = self.queues.default_queue
        own = queue.exchange_entity if queue is not None else None
        exchange_type = str(
            merged.get("exchange_type")
            or getattr(exchange_opt, "type", None)
            or (own.type if own is not None else "direct")
        )
        exchange = _name(exchange_opt) if exchange_opt is not None else None
        queue_name = queue.name if queue is not None else ""
        if (not exchange or not routing_key) and exchange_type == "direct":
            exchange, routing_key = "", queue_name
        elif exchange is None:
            default = self.queues.default_exchange
            exchange = own.name if own is not None and own.name else default.name
            routing_key = (
                routing_key
                or (queue.routing_key if queue is not None else "")
                or self.queues.default_routing_key
            )
        priority = merged.get("priority")
        return Route(
            queue_name or str(routing_key or ""),
            exchange,
            str(routing_key or ""),
            int(priority) if priority is not None else None,
            exchange_type,
            queue,
        )


__all__ = ["Route", "TaskRouter"]
