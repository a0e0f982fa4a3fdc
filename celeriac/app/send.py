"""``apply_async``'s engine: call options plus task options plus routes become one message.

This is on the hot path of every ``delay()``: options are merged once, ``countdown`` becomes
an absolute aware-UTC ``eta`` (wire-protocol.md §1.6, §7.7), and the message is built by
``protocol.task_message.build_v2``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Final

from celeriac._state import request_var
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.task_message import build_v2
from celeriac.transport.base import Outbound
from celeriac.utils.ids import new_id

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task

_origin: tuple[int, str] | None = None


def origin_nodename() -> str:
    """``gen<pid>@<host>``, Celery's sender nodename for non-worker processes."""
    global _origin
    pid = os.getpid()
    if _origin is None or _origin[0] != pid:
        _origin = (pid, f"gen{pid}@{socket.gethostname()}")
    return _origin[1]


def _as_aware(value: datetime, tz: tzinfo) -> datetime:
    """Naive datetimes are read in the app's timezone (UTC unless ``timezone`` is set), as
    Celery does; aware ones are kept."""
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _expires_at(expires: Any, now: datetime, tz: tzinfo) -> datetime | None:
    if expires is None:
        return None
    if isinstance(expires, datetime):
        return _as_aware(expires, tz)
    if isinstance(expires, timedelta):
        return now + expires
    return now + timedelta(seconds=float(expires))


def _signature_dicts(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    return [dict(item) for item in items]


@dataclass(frozen=True, slots=True)
class SendDefaults:
    """The settings every send reads, snapshotted once per settings version."""

    version: int
    serializer: str
    compression: str | None
    priority: int | None
    ignore_result: bool
    timezone: tzinfo
    delivery_mode: int
    inherit_parent_priority: bool
    sent_event: bool


def send_defaults(app: Celery) -> SendDefaults:
    """``app``'s current send defaults, re-read only after the settings changed."""
    cached = app._send_defaults
    conf = app.conf
    if cached is not None and cached.version == conf.version:
        return cached
    fresh = SendDefaults(conf.version, str(conf.task_serializer or "json"),
                         conf.task_compression, conf.task_default_priority,
                         bool(conf.task_ignore_result), app.timezone,
                         delivery_mode_of(conf.task_default_delivery_mode),
                         bool(conf.task_inherit_parent_priority),
                         bool(conf.task_send_sent_event))
    app._send_defaults = fresh
    return fresh


#: kombu's names for the two AMQP delivery modes.
_DELIVERY_MODES: Final = {"persistent": 2, "transient": 1}


def delivery_mode_of(value: int | str | None) -> int:
    """2 (persistent) or 1 (transient) from ``task_default_delivery_mode`` or the option.

    Raises:
        ImproperlyConfigured: neither 1, 2, 'persistent' nor 'transient'.
    """
    if value is None:
        return 2
    mode = _DELIVERY_MODES.get(value.lower(), 0) if isinstance(value, str) else value
    if mode not in (1, 2):
        raise ImproperlyConfigured(
            f"delivery_mode {value!r}: use 'persistent' (2) or 'transient' (1)")
    return int(mode)


@dataclass(frozen=True, slots=True)
class SendPlan:
    """Everything about a send that does not depend on the call's own id and arguments.

    Built once per ``apply_async``, or once for a whole ``delay_many`` batch.
    """

    message_options: dict[str, Any]
    routing_key: str
    exchange: str
    not_before: float | None
    root_id: str | None
    #: ``task_send_sent_event``: the sender broadcasts ``task-sent`` for each message, naming
    #: ``queue``. Decided with the plan, so a send with it off pays nothing.
    sent_event: bool = False
    queue: str = ""


def plan_send(app: Celery, name: str, options: dict[str, Any], task: Task[Any, Any] | None,
              args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> SendPlan:
    """Merge call options, task options, routes and settings (the order Celery uses).

    A plain ``delay()`` (no options, not inside a task, no time-dependent task option, no
    argument-dependent route) gets the same plan every time: it is kept on the task and
    rebuilt only when the settings change or the process forks.
    """
    if (task is not None and task.expires is None and request_var.get() is None
            and all(value is None for value in options.values())):
        key = (app.conf.version, os.getpid(), id(app.router))
        cached = task._send_plan
        if cached is not None and cached[0] == key:
            return cached[1]
        plan = _merge(app, name, options, task, args, kwargs)
        if not app.router.depends_on_arguments:
            task._send_plan = (key, plan)
        return plan
    return _merge(app, name, options, task, args, kwargs)


def _merge(app: Celery, name: str, options: dict[str, Any], task: Task[Any, Any] | None,
           args: Sequence[Any], kwargs: Mapping[str, Any] | None) -> SendPlan:
    defaults = send_defaults(app)
    now = datetime.now(UTC)
    eta = options.get("eta")
    countdown = options.get("countdown")
    if countdown is not None:
        eta = now + timedelta(seconds=float(countdown))
    elif eta is not None:
        eta = _as_aware(eta, defaults.timezone)
    expires = _expires_at(
        options["expires"] if "expires" in options else getattr(task, "expires", None), now,
        defaults.timezone,
    )
    parent = request_var.get()
    parent_id = options.get("parent_id")
    root_id = options.get("root_id")
    if parent is not None and parent.id and not parent.called_directly:
        parent_id = parent_id or parent.id
        root_id = root_id or parent.root_id or parent.id
    route = app.router.route(name, options, args, kwargs, task_queue=getattr(task, "queue", None))
    priority = options.get("priority")
    if priority is None and defaults.inherit_parent_priority and parent is not None:
        priority = parent.delivery_info.get("priority")  # Celery: before route and task
    if priority is None:
        priority = route.priority if route.priority is not None else getattr(task, "priority", None)
    if priority is None:
        priority = defaults.priority
    ignore_result = options.get("ignore_result")
    if ignore_result is None:
        ignore_result = getattr(task, "ignore_result", None)
        if ignore_result is None:
            ignore_result = defaults.ignore_result if task is not None else False
    message_options = {
        "serializer": options.get("serializer") or getattr(task, "serializer", None)
        or defaults.serializer,
        "compression": options.get("compression") or getattr(task, "compression", None)
        or defaults.compression,
        "eta": eta,
        "expires": expires,
        "retries": int(options.get("retries") or 0),
        "timelimit": (options.get("time_limit", getattr(task, "time_limit", None)),
                      options.get("soft_time_limit", getattr(task, "soft_time_limit", None))),
        "parent_id": parent_id,
        "group_id": options.get("group_id"),
        "group_index": options.get("group_index"),
        "shadow": options.get("shadow"),
        "origin": origin_nodename(),
        "ignore_result": bool(ignore_result),
        "callbacks": _signature_dicts(options.get("link")),
        "errbacks": _signature_dicts(options.get("link_error")),
        "chain": _signature_dicts(options.get("chain")),
        "chord": dict(options["chord"]) if options.get("chord") else None,
        "reply_to": options.get("reply_to") or app.oid,
        "priority": priority,
        "headers": options.get("headers"),
        "replaced_task_nesting": int(options.get("replaced_task_nesting") or 0),
        **_stamps(options),
        "delivery_mode": (delivery_mode_of(options["delivery_mode"])
                          if options.get("delivery_mode") is not None
                          else defaults.delivery_mode),
    }
    return SendPlan(message_options, route.routing_key or route.queue, route.exchange,
                    eta.timestamp() if eta is not None and eta > now else None, root_id,
                    defaults.sent_event, route.queue)


def _stamps(options: Mapping[str, Any]) -> dict[str, Any]:
    """Stamps set by ``Signature.stamp`` (options named in ``stamped_headers``) as the
    ``stamped_headers``/``stamps`` headers, where Celery's ``as_task_v2`` puts them."""
    names = options.get("stamped_headers")
    if not names:
        return {}
    names = [names] if isinstance(names, str) else list(names)
    return {"stamped_headers": names, "stamps": {name: options.get(name) for name in names}}


def outbound_for(plan: SendPlan, name: str, task_id: str, args: Sequence[Any] | None,
                 kwargs: Mapping[str, Any] | None) -> Outbound:
    """The message of one call under ``plan``."""
    message = build_v2(task_name=name, task_id=task_id, args=list(args or ()),
                       kwargs=dict(kwargs or {}), root_id=plan.root_id or task_id,
                       **plan.message_options)
    return Outbound(message=message, routing_key=plan.routing_key, exchange=plan.exchange,
                    not_before=plan.not_before)


def build_outbound(
    app: Celery,
    name: str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    options: dict[str, Any],
    task: Task[Any, Any] | None = None,
) -> tuple[Outbound, str, SendPlan]:
    """Build the message for one call; return it with the task id and its plan."""
    task_id = options.get("task_id") or new_id()
    plan = plan_send(app, name, options, task, args or (), kwargs)
    return outbound_for(plan, name, task_id, args, kwargs), task_id, plan
