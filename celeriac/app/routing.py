"""Where a task message goes: ``queue=``/``routing_key=`` options, the task's own queue,
``task_routes`` (dict, list of dicts, glob patterns, callables), else the default queue."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RouteMap = Mapping[str, Any]
Router = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Route:
    """The resolved destination of one message."""

    queue: str
    exchange: str = ""
    routing_key: str = ""
    priority: int | None = None


def _normalize_routes(routes: Any) -> list[RouteMap | Router]:
    if routes is None:
        return []
    if isinstance(routes, Mapping) or callable(routes):
        return [routes]
    if isinstance(routes, str):
        from celeriac.utils.imports import import_symbol

        return [import_symbol(routes)]
    return list(routes)


def _match_map(routes: RouteMap, name: str) -> Any:
    if name in routes:
        return routes[name]
    for pattern, target in routes.items():
        key: object = pattern
        if isinstance(key, re.Pattern):
            if key.match(name):
                return target
        elif any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return target
    return None


class TaskRouter:
    """Resolves a task name plus call options to a ``Route``; rules are prepared once."""

    def __init__(self, routes: Any, default_queue: str) -> None:
        self._routes = _normalize_routes(routes)
        self._default_queue = default_queue
        self._cache: dict[str, Route | None] = {}

    def route(self, name: str, options: Mapping[str, Any], args: Sequence[Any] = (),
              kwargs: Mapping[str, Any] | None = None, task_queue: str | None = None) -> Route:
        queue = options.get("queue")
        routing_key = options.get("routing_key")
        exchange = options.get("exchange") or ""
        if queue or routing_key:
            name_of_queue = _queue_name(queue) or str(routing_key)
            return Route(name_of_queue, _exchange_name(exchange),
                         str(routing_key or name_of_queue), options.get("priority"))
        if task_queue:
            return Route(task_queue, "", task_queue)
        routed = self._lookup(name, args, kwargs or {}, options)
        if routed is not None:
            return routed
        return Route(self._default_queue, "", self._default_queue)

    def _lookup(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                options: Mapping[str, Any]) -> Route | None:
        if name in self._cache:
            return self._cache[name]
        cacheable = True
        for rule in self._routes:
            if isinstance(rule, Mapping):
                target = _match_map(rule, name)
            else:
                cacheable = False
                target = rule(name, args, kwargs, options, task=None)
            if target:
                route = _to_route(target, self._default_queue)
                if cacheable:
                    self._cache[name] = route
                return route
        if cacheable:
            self._cache[name] = None
        return None


def _queue_name(queue: Any) -> str:
    return str(getattr(queue, "name", queue) or "")


def _exchange_name(exchange: Any) -> str:
    return str(getattr(exchange, "name", exchange) or "")


def _to_route(target: Any, default_queue: str) -> Route:
    if isinstance(target, str):
        return Route(target, "", target)
    if isinstance(target, Mapping):
        queue = _queue_name(target.get("queue")) or target.get("routing_key") or default_queue
        return Route(
            queue,
            _exchange_name(target.get("exchange")),
            target.get("routing_key") or queue,
            target.get("priority"),
        )
    queue = _queue_name(target)
    return Route(queue, "", queue)
