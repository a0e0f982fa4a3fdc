"""The one registry of remote-control commands: built-in and user-defined, with Celery's meta.

Celery keeps every command in ``Panel`` (handler by name) and ``Panel.meta`` (type, signature,
argument types, help): workers dispatch from the first, ``celery inspect``/``control`` read the
second to parse a shell's arguments and to list commands (``--list``). celeriac does the same
with ``COMMANDS`` and ``META``.

Two calling conventions share it:

* ``@command(name, ...)``: celeriac's own handlers, ``handler(node, arguments) -> answer``,
  which reach the worker only through the node's ``WorkerView``;
* ``@control_command(...)`` / ``@inspect_command(...)``: Celery's decorators for user code,
  ``handler(state, **arguments)``, where ``state`` is a ``ControlState`` (``state.app``,
  ``state.hostname``, ``state.consumer.app``, ``state.view``). A module written for Celery
  runs unchanged after ``celery.worker.control`` becomes ``celeriac.worker.control``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode, WorkerView

Handler = Callable[["ControlNode", dict[str, Any]], Any]
CommandType = Literal["control", "inspect"]
#: ``(argument name, converter of the shell's string)`` in positional order, as Celery's.
ArgSpec = Sequence[tuple[str, Callable[[str], Any] | None]]

COMMANDS: dict[str, Handler] = {}


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """Celery's ``controller_info_t``: what the CLI needs to call and list a command."""

    type: CommandType = "control"
    alias: str | None = None
    visible: bool = True
    default_timeout: float = 1.0
    help: str = ""
    signature: str | None = None
    args: ArgSpec | None = None
    variadic: str | None = None


META: dict[str, CommandInfo] = {}

#: Shapes of Celery's commands that ``pool_commands.py`` registers, for the CLI and ``--list``
#: when that module registers them without meta of its own.
CELERY_SHAPES: dict[str, CommandInfo] = {
    "pool_grow": CommandInfo(signature="[N=1]", args=(("n", int),),
                             help="Grow pool by n processes/threads."),
    "pool_shrink": CommandInfo(signature="[N=1]", args=(("n", int),),
                               help="Shrink pool by n processes/threads."),
    "pool_restart": CommandInfo(help="Restart execution pool."),
    "autoscale": CommandInfo(signature="[max [min]]", args=(("max", int), ("min", int)),
                             help="Modify autoscale settings."),
    "add_consumer": CommandInfo(
        signature="<queue> [exchange [type [routing_key]]]",
        args=(("queue", str), ("exchange", str), ("exchange_type", str),
              ("routing_key", str)),
        help="Tell worker(s) to consume from task queue by name."),
    "cancel_consumer": CommandInfo(
        signature="<queue>", args=(("queue", str),),
        help="Tell worker(s) to stop consuming from task queue by name."),
}


def strtobool(value: str) -> bool:
    """Celery's ``strtobool`` for shell arguments (``conf true``)."""
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "on"}:
        return True
    if text in {"0", "false", "no", "n", "off"}:
        return False
    raise ValueError(f"Cannot coerce {value!r} to a boolean")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n")[0]


def _info(kind: CommandType, doc: str | None, *, alias: str | None = None,
          visible: bool = True, default_timeout: float = 1.0, help: str | None = None,
          signature: str | None = None, args: ArgSpec | None = None,
          variadic: str | None = None) -> CommandInfo:
    """The meta of a command; the options are Celery's ``Panel.register`` keywords."""
    return CommandInfo(type=kind, alias=alias, visible=visible, default_timeout=default_timeout,
                       help=help or _first_line(doc), signature=signature,
                       args=tuple(args) if args else None, variadic=variadic)


def command(name: str, *, type: CommandType | None = None,
            **options: Any) -> Callable[[Handler], Handler]:
    """Register a celeriac handler ``handler(node, arguments)`` under ``name`` (and ``alias``).

    ``options`` are those of ``_info``. Without ``type`` or options, a Celery command listed
    in ``CELERY_SHAPES`` gets Celery's shape; any other is a control command.
    """
    def register(handler: Handler) -> Handler:
        known = CELERY_SHAPES.get(name)
        if known is not None and type is None and not options:
            info = known
        else:
            info = _info(type or "control", handler.__doc__, **options)
        _add(name, handler, info)
        return handler

    return register


def _add(name: str, handler: Handler, info: CommandInfo) -> None:
    COMMANDS[name] = handler
    META[name] = info
    if info.alias:
        COMMANDS[info.alias] = handler


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """What ``state.consumer`` honestly offers: the app and node name (no kombu consumer)."""

    app: Any
    hostname: str
    view: WorkerView


@dataclass(frozen=True, slots=True)
class ControlState:
    """The ``state`` a Celery-style handler receives (Celery: ``state.app``, ``.hostname``,
    ``.consumer``). ``view`` is the worker's ``WorkerView``: what celeriac lets a command see
    (``active()``, ``stats()``, ``registered()``...) and do."""

    app: Any
    hostname: str
    consumer: ConsumerState
    view: WorkerView
    node: ControlNode


def state_of(node: ControlNode) -> ControlState:
    view = node.view
    app = getattr(view, "app", None)
    return ControlState(app=app, hostname=node.hostname,
                        consumer=ConsumerState(app, node.hostname, view), view=view, node=node)


def _celery_style(kind: CommandType, name: str | None = None,
                  **options: Any) -> Callable[[Callable[..., Any]], Any]:
    def register(fun: Callable[..., Any]) -> Callable[..., Any]:
        def call(node: ControlNode, arguments: dict[str, Any]) -> Any:
            return fun(state_of(node), **arguments)

        call.__doc__ = fun.__doc__
        _add(name or fun.__name__, call, _info(kind, fun.__doc__, **options))
        return fun

    return register


def control_command(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Celery's ``@control_command``: a command that changes something, ``fun(state, **kw)``.

    Options as Celery's: ``name`` (default: the function's), ``alias``, ``visible``,
    ``default_timeout``, ``help`` (default: the docstring's first line), ``signature``,
    ``args`` (``[(name, type), ...]`` for the CLI's words), ``variadic``.
    """
    return _celery_style("control", **options)


def inspect_command(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Celery's ``@inspect_command``: a read-only question, ``fun(state, **kw)``; options
    as ``control_command``'s."""
    return _celery_style("inspect", **options)


def commands_of_type(kind: CommandType) -> dict[str, CommandInfo]:
    """Visible commands of ``kind`` by name, sorted (what ``--list`` shows)."""
    return dict(sorted(((name, info) for name, info in META.items()
                        if info.type == kind and info.visible), key=lambda item: item[0]))


__all__ = ["COMMANDS", "META", "CommandInfo", "ControlState", "command", "commands_of_type",
           "control_command", "inspect_command", "state_of", "strtobool"]
