"""Remote-control command handlers, with Celery's names, arguments and reply shapes.

Every handler is ``handler(node, arguments) -> answer``; the answer is what the node sends back
under its hostname (wire-protocol.md §6.1 lists the captured shapes). Arguments a newer Celery
client adds are ignored rather than refused, as Celery's ``**kwargs`` handlers do. Each
``@command`` carries Celery's meta (type, signature, argument types), which the CLI reads
(``registry.py``); the events, election and debugging commands live in modules of their own,
imported at the end so that importing this module registers every built-in command.
"""

from __future__ import annotations

import os
import re
import resource
import signal as signal_module
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celeriac.worker.control.registry import COMMANDS, Handler, command, strtobool

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode, TaskInfo

_RATE = re.compile(r"^\s*\d+(\.\d+)?\s*(/\s*[smh])?\s*$")
_IDS = "[id1 [id2 [... [idN]]]]"


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
@command("ping", type="inspect", help="Ping worker(s).")
def ping(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return ok("pong")


@command("clock", type="inspect", help="Get current logical clock value.")
def clock(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return {"clock": node.clock.forward()}


@command("active", type="inspect", alias="dump_active",
         help="List of tasks currently being executed.")
def active(node: ControlNode, arguments: dict[str, Any]) -> Any:
    safe = bool(arguments.get("safe"))
    return [request_info(info, safe) for info in node.view.active()]


@command("reserved", type="inspect", alias="dump_reserved",
         help="List of currently reserved tasks, not including scheduled/active.")
def reserved(node: ControlNode, arguments: dict[str, Any]) -> Any:
    safe = bool(arguments.get("safe"))
    return [request_info(info, safe) for info in node.view.reserved()]


@command("scheduled", type="inspect", alias="dump_schedule",
         help="List of currently scheduled ETA/countdown tasks.")
def scheduled(node: ControlNode, arguments: dict[str, Any]) -> Any:
    entries = []
    for info in node.view.scheduled():
        eta = (datetime.fromtimestamp(info.eta, UTC).isoformat()
               if info.eta is not None else info.request.headers.get("eta"))
        priority = info.request.delivery.message.properties.get("priority")
        entries.append({"eta": eta, "priority": priority, "request": request_info(info)})
    return entries


@command("query_task", type="inspect", variadic="ids", signature=_IDS,
         help="Query for task information by id.")
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


@command("registered", type="inspect", alias="dump_tasks", variadic="taskinfoitems",
         signature="[attr1 [attr2 [... [attrN]]]]", help="List of registered tasks.")
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


@command("revoked", type="inspect", alias="dump_revoked",
         help="List of revoked task-ids.")
def revoked(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return node.view.revoked.ids()


@command("active_queues", type="inspect",
         help="List the task queues a worker is currently consuming from.")
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


@command("stats", type="inspect", help="Request worker statistics/information.")
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


@command("conf", type="inspect", alias="dump_conf", signature="[include_defaults=False]",
         args=(("with_defaults", strtobool),), help="List configuration.")
def conf(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return node.view.conf(with_defaults=bool(arguments.get("with_defaults")))


@command("report", type="inspect",
         help="Information about the installation, for bug reports.")
def report(node: ControlNode, arguments: dict[str, Any]) -> Any:
    view = node.view
    lines = [f"hostname: {view.hostname}", f"pid: {os.getpid()}",
             f"queues: {', '.join(view.queues())}",
             f"registered: {len(list(view.registered()))} task(s)",
             f"active: {len(view.active())}", f"revoked: {len(view.revoked)}"]
    return ok("\n".join(lines))


@command("hello", type="inspect", visible=False, help="Request mingle sync-data.")
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
@command("revoke", variadic="task_id", signature=_IDS,
         help="Revoke task by task id (or list of ids).")
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


@command("terminate", variadic="task_id", args=(("signal", str),),
         signature=f"<signal> {_IDS}", help="Terminate task by task id (or list of ids).")
def terminate(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return revoke(node, {**arguments, "terminate": True})


@command("rate_limit", args=(("task_name", str), ("rate_limit", str)),
         signature="<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>",
         help="Tell worker(s) to modify the rate limit for a task by type.")
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


@command("time_limit", args=(("task_name", str), ("soft", float), ("hard", float)),
         signature="<task_name> <soft_secs> [hard_secs]",
         help="Tell worker(s) to modify the time limit for task by type.")
def time_limit(node: ControlNode, arguments: dict[str, Any]) -> Any:
    name = str(arguments.get("task_name") or "")
    if name not in node.view.registered():
        return {"error": f"unknown task {name}"}
    soft, hard = arguments.get("soft"), arguments.get("hard")
    node.view.set_time_limit(name, None if soft is None else float(soft),
                             None if hard is None else float(hard))
    return ok("time limits set successfully")


@command("shutdown", help="Shutdown worker(s).")
def shutdown(node: ControlNode, arguments: dict[str, Any]) -> Any:
    node.view.shutdown()
    return ok("shutting down")


def _now() -> float:
    return time.time()


# Registered by import: events, election, debugging and pool commands (module docstring).
from celeriac.worker.control import (  # noqa: E402
    debug_commands,
    event_commands,
    pool_commands,
    stamp_commands,
)

__all__ = ["COMMANDS", "Handler", "command", "debug_commands", "event_commands", "ok",
           "pool_commands", "request_info", "signum_of", "stamp_commands"]
