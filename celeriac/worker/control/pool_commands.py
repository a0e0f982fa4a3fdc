"""Remote-control commands that change a running worker: its pool and its queues.

Celery's names, arguments and replies (``celery/worker/control.py``): ``pool_grow`` and
``pool_shrink`` (``n``, default 1), ``pool_restart`` (``modules``, ``reload``; only with
``worker_pool_restarts``), ``autoscale`` (``max``, ``min``), ``add_consumer`` (``queue``,
``exchange``, ``exchange_type``, ``routing_key`` and queue options) and ``cancel_consumer``
(``queue``). What cannot be done raises, and the node answers ``{"error": repr(exc)}`` as
kombu's pidbox does, so the texts are Celery's (e.g. ``ValueError('Autoscale not enabled')``).
Registered in ``commands.COMMANDS`` when ``commands.py`` imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac.worker.control.commands import command, ok
from celeriac.worker.scaling import AutoscaleRefused

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode

#: The arguments ``add_consumer`` names; any other goes to the queue's options, as Celery's
#: ``**options`` (``durable``, ``auto_delete``, ``queue_arguments``...).
_ADD_CONSUMER_ARGS = ("queue", "exchange", "exchange_type", "routing_key")


def _count(arguments: dict[str, Any]) -> int:
    value = arguments.get("n")
    return 1 if value is None else int(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


@command("pool_grow")
def pool_grow(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return _resize(node.view.pool_grow, arguments, "pool will grow")


@command("pool_shrink")
def pool_shrink(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return _resize(node.view.pool_shrink, arguments, "pool will shrink")


def _resize(method: Callable[[int], None], arguments: dict[str, Any], done: str) -> Any:
    try:
        method(_count(arguments))
    except AutoscaleRefused as exc:  # Celery's ``nok``: the bare text, not ``repr``
        return {"error": str(exc)}
    return ok(done)


@command("pool_restart")
def pool_restart(node: ControlNode, arguments: dict[str, Any]) -> Any:
    modules = arguments.get("modules")
    names = None if modules is None else [str(m) for m in modules]
    node.view.pool_restart(names, bool(arguments.get("reload")))
    return ok("reload started")


@command("autoscale")
def autoscale(node: ControlNode, arguments: dict[str, Any]) -> Any:
    maximum, minimum = node.view.autoscale(_optional_int(arguments.get("max")),
                                           _optional_int(arguments.get("min")))
    return ok(f"autoscale now max={maximum} min={minimum}")


@command("add_consumer")
def add_consumer(node: ControlNode, arguments: dict[str, Any]) -> Any:
    queue = str(arguments.get("queue") or "")
    options = {k: v for k, v in arguments.items() if k not in _ADD_CONSUMER_ARGS}
    node.view.add_consumer(queue, _optional_str(arguments.get("exchange")),
                           _optional_str(arguments.get("exchange_type")),
                           _optional_str(arguments.get("routing_key")), options)
    return ok(f"add consumer {queue}")


@command("cancel_consumer")
def cancel_consumer(node: ControlNode, arguments: dict[str, Any]) -> Any:
    queue = str(arguments.get("queue") or "")
    node.view.cancel_consumer(queue)
    return ok(f"no longer consuming from {queue}")


__all__ = ["add_consumer", "autoscale", "cancel_consumer", "pool_grow", "pool_restart",
           "pool_shrink"]
