"""Remote-control command handlers, with Celery's names, arguments and reply shapes.

Every handler is ``handler(node, arguments) -> answer``; the answer is what the node sends back
under its hostname (wire-protocol.md §6.1 lists the captured shapes). Arguments a newer Celery
client adds are ignored rather than refused, as Celery's ``**kwargs`` handlers do.
"""

from __future__ import annotations

import os
import re
import resource
import signal as signal_module
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode, TaskInfo

Handler = Callable[["ControlNode", dict[str, Any]], Any]
COMMANDS: dict[str, Handler] = {}

_RATE = re.compile(r"^\s*\d+(\.\d+)?\s*(/\s*[smh])?\s*$")


def command(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = handler
        return handler

    return register


def ok(text: str) -> dict[str, str]:
    return {"ok": text}


def signum_of(value: Any) -> int:
    """``SIGTERM``, ``TERM``, ``15`` or None (SIGTERM) as a signal number."""
    if value is None or value == "":
        return int(signal_module.SIGTERM)
    if isinstance(value, int):
        return value
    text = str(value).upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signal_module.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


def request_info(info: TaskInfo, safe: bool = False) -> dict[str, Any]:
    """The dict Celery's ``Request.info()`` gives for ``inspect active/reserved``."""
    request = info.request
    headers = request.headers
    body = request.body
    if safe or body is None:
        args: Any = headers.get("argsrepr")
        kwargs: Any = headers.get("kwargsrepr")
    else:
        args, kwargs = list(body.args), dict(body.kwargs)
    properties = request.delivery.message.properties
    delivery_info = properties.get("delivery_info") or {}
    return {
        "id": request.task_id,
        "name": request.task_name,
        "args": args,
        "kwargs": kwargs,
        "type": request.task_name,
        "hostname": request.hostname,
        "time_start": info.time_start,
        "acknowledged": info.acknowledged,
        "delivery_info": {
            "exchange": delivery_info.get("exchange", ""),
            "routing_key": request.delivery.queue,
            "priority": properties.get("priority"),
            "redelivered": request.delivery.redelivered,
        },
        "worker_pid": info.worker_pid,
    }


# -- inspect -----------------------------------------------------------------------------------
@command("ping")
def ping(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return ok("pong")


@command("clock")
def clock(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return {"clock": node.clock.forward()}


@command("active")
def active(node: ControlNode, arguments: dict[str, Any]) -> Any:
    safe = bool(arguments.get("safe"))
    return [request_info(info, safe) for info in node.view.active()]


@command("reserved")
def reserved(node: ControlNode, arguments: dict[str, Any]) -> Any:
    safe = bool(arguments.get("safe"))
    return [request_info(info, safe) for info in node.view.reserved()]


@command("scheduled")
def scheduled(node: ControlNode, arguments: dict[str, Any]) -> Any:
    entries = []
    for info in node.view.scheduled():
        eta = (datetime.fromtimestamp(info.eta, UTC).isoformat()
               if info.eta is not None else info.request.headers.get("eta"))
        priority = info.request.delivery.message.properties.get("priority")
        entries.append({"eta": eta, "priority": priority, "request": request_info(info)})
    return entries


@command("query_task")
def query_task(node: ControlNode, arguments: dict[str, Any]) -> Any:
    wanted = arguments.get("ids") or []
    ids = {wanted} if isinstance(wanted, str) else set(wanted)
    found: dict[str, Any] = {}
    view = node.view
    for state, infos in (("active", view.active()), ("reserved", view.reserved()),
                         ("scheduled", view.scheduled())):
        for info in infos:
            if info.request.task_id in ids:
                found[info.request.task_id] = [state, request_info(info)]
    return found


@command("registered")
def registered(node: ControlNode, arguments: dict[str, Any]) -> Any:
    items = arguments.get("taskinfoitems") or []
    builtins = bool(arguments.get("builtins"))
    names = sorted(n for n in node.view.registered() if builtins or not n.startswith("celery."))
    if not items:
        return names
    out = []
    for name in names:
        options = node.view.task_options(name)
        fields = [f"{item}={options[item]}" for item in items if options.get(item) is not None]
        out.append(f"{name} [{' '.join(fields)}]" if fields else name)
    return out


@command("revoked")
def revoked(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return node.view.revoked.ids()


@command("active_queues")
def active_queues(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return [_queue_info(name) for name in node.view.queues()]


def _queue_info(name: str) -> dict[str, Any]:
    exchange = {"name": name, "type": "direct", "arguments": None, "durable": True,
                "passive": False, "auto_delete": False, "delivery_mode": None,
                "no_declare": False}
    return {"name": name, "exchange": exchange, "routing_key": name, "queue_arguments": None,
            "binding_arguments": None, "consumer_arguments": None, "durable": True,
            "exclusive": False, "auto_delete": False, "no_ack": False, "alias": None,
            "bindings": [], "no_declare": None, "expires": None, "message_ttl": None,
            "max_length": None, "max_length_bytes": None, "max_priority": None}


@command("stats")
def stats(node: ControlNode, arguments: dict[str, Any]) -> Any:
    out = dict(node.view.stats())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update({
        "pid": os.getpid(),
        "clock": str(node.clock.value),
        "uptime": int(max(0.0, _now() - node.started_at)),
        "rusage": {"utime": usage.ru_utime, "stime": usage.ru_stime,
                   "maxrss": usage.ru_maxrss, "minflt": usage.ru_minflt,
                   "majflt": usage.ru_majflt, "nvcsw": usage.ru_nvcsw,
                   "nivcsw": usage.ru_nivcsw},
    })
    out.setdefault("total", {})
    return out


@command("conf")
def conf(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return node.view.conf()


@command("report")
def report(node: ControlNode, arguments: dict[str, Any]) -> Any:
    view = node.view
    lines = [f"hostname: {view.hostname}", f"pid: {os.getpid()}",
             f"queues: {', '.join(view.queues())}",
             f"registered: {len(list(view.registered()))} task(s)",
             f"active: {len(view.active())}", f"revoked: {len(view.revoked)}"]
    return ok("\n".join(lines))


@command("hello")
def hello(node: ControlNode, arguments: dict[str, Any]) -> Any:
    """Celery's mingle: share revoked ids with a starting peer (and learn its own)."""
    if arguments.get("from_node") == node.hostname:
        return None
    peer = arguments.get("revoked")
    if isinstance(peer, dict):
        node.view.revoked.merge({str(k): float(v[0] if isinstance(v, list | tuple) else v)
                                 + node.view.revoked.expires for k, v in peer.items()})
    return {"revoked": node.view.revoked.as_timestamps(), "clock": node.clock.forward()}


# -- actions -------------------------------------------------------------------------------------
@command("revoke")
def revoke(node: ControlNode, arguments: dict[str, Any]) -> Any:
    raw = arguments.get("task_id") or []
    ids = [raw] if isinstance(raw, str) else [str(t) for t in raw]
    node.view.revoked.add(ids)
    if not arguments.get("terminate"):
        return ok(f"tasks {', '.join(ids)} flagged as revoked")
    signum = signum_of(arguments.get("signal"))
    terminated = [task_id for task_id in ids if node.view.terminate(task_id, signum)]
    if not terminated:
        return ok("terminate: tasks unknown")
    return ok(f"terminate: {', '.join(terminated)}")


@command("terminate")
def terminate(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return revoke(node, {**arguments, "terminate": True})


@command("rate_limit")
def rate_limit(node: ControlNode, arguments: dict[str, Any]) -> Any:
    name = str(arguments.get("task_name") or "")
    rate = arguments.get("rate_limit")
    if name not in node.view.registered():
        return {"error": f"unknown task {name}"}
    if rate in (None, "", 0, "0"):
        node.view.set_rate_limit(name, None)
        return ok("rate limit disabled successfully")
    if not _RATE.match(str(rate)):
        return {"error": f"Invalid rate limit string: {rate!r}"}
    node.view.set_rate_limit(name, str(rate))
    return ok("new rate limit set successfully")


@command("time_limit")
def time_limit(node: ControlNode, arguments: dict[str, Any]) -> Any:
    name = str(arguments.get("task_name") or "")
    if name not in node.view.registered():
        return {"error": f"unknown task {name}"}
    soft, hard = arguments.get("soft"), arguments.get("hard")
    node.view.set_time_limit(name, None if soft is None else float(soft),
                             None if hard is None else float(hard))
    return ok("time limits set successfully")


@command("shutdown")
def shutdown(node: ControlNode, arguments: dict[str, Any]) -> Any:
    node.view.shutdown()
    return ok("shutting down")


def _now() -> float:
    return time.time()


__all__ = ["COMMANDS", "command", "request_info", "signum_of"]


from celeriac.worker.control import pool_commands  # noqa: E402, F401 - registers its commands
