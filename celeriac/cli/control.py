"""``celeriac inspect``, ``celeriac control`` and ``celeriac status``: remote control from a shell.

They behave as Celery 5.7's ``celery inspect/control/status``: ``COMMAND`` is any command of
that type in the registry (``worker/control/registry.py``), built-in or defined by the user's
app module with ``@inspect_command``/``@control_command`` (the app is imported first, so its
commands are known); the words after it become the command's arguments through the
command's ``args``/``variadic`` meta; ``--list`` prints the commands with their signature and
help. Each reply is printed as it arrives (``->  w1@host: OK`` and the answer, indented),
``--json`` prints the replies as one JSON document instead. Exit statuses are Celery's: 69
(``EX_UNAVAILABLE``) when no node replied or the broker cannot be reached (one ``Error:``
line, no traceback), 2 for a usage error. One deviation: ``status --json`` prints only the
JSON, where Celery appends the ``N nodes online.`` line after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pprint import pformat
from typing import Any, TypeVar

import click

from celeriac.app import base as app_base
from celeriac.cli.main import CliState, app_options
from celeriac.control.control import Control
from celeriac.exceptions import OperationalError
from celeriac.worker.control import commands as builtin_commands
from celeriac.worker.control.registry import META, CommandType, commands_of_type

F = TypeVar("F", bound=Callable[..., Any])

#: ``EX_UNAVAILABLE`` (sysexits.h), what Celery exits with when nobody answers.
EX_UNAVAILABLE = 69
NO_REPLY = "No nodes replied within time constraint"
#: Imported for their side effects: every built-in command registers, and without ``-A``
#: the default app can be built (as Celery's CLI falls back to its default app).
_IMPORTED = (builtin_commands, app_base)


class RemoteCommandError(click.ClickException):
    """One ``Error:`` line and status 69, as Celery's ``CeleryCommandException``."""

    exit_code = EX_UNAVAILABLE


def _remote_options(fun: F) -> F:
    for decorator in (
        click.option("-j", "--json", "as_json", is_flag=True, help="Use json as output format."),
        click.option("-d", "--destination",
                     help="Comma separated list of destination node names."),
        click.option("-t", "--timeout", type=float, default=1.0, show_default=True,
                     help="Timeout in seconds waiting for reply."),
    ):
        fun = decorator(fun)
    return fun


@contextmanager
def _control(state: CliState) -> Iterator[Control]:
    """The app's ``Control``; closing must not raise over the command's own error."""
    app = state.load_app()
    existing = getattr(app, "control", None)
    control = existing if isinstance(existing, Control) else Control(app)
    try:
        yield control
    finally:
        if control is not existing:
            with suppress(Exception):  # closing a connection that never opened
                control.close()


def _destination(value: str | None) -> list[str] | None:
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    return names or None


def _remote(name: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; a broker that is down or refuses becomes one line, as Celery's."""
    try:
        return call()
    except click.ClickException:
        raise
    except OperationalError as exc:
        raise RemoteCommandError(
            "Could not connect to the message broker. Please make sure your broker "
            f"(e.g., RabbitMQ or Redis) is running and the connection settings are correct. "
            f"Reason: {exc}") from exc
    except Exception as exc:
        raise RemoteCommandError(f"Unable to run the `{name}` command. Reason: {exc}") from exc


# -- output, as Celery's ``CLIContext.pretty`` --------------------------------------------------
def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.split("\n"))


def pretty(answer: Any) -> tuple[str, str]:
    """``(status, text)`` for one node's answer."""
    if isinstance(answer, list):
        return "OK", "\n".join(f"* {item}" for item in answer) if answer else "- empty -"
    if isinstance(answer, dict):
        if "ok" in answer:
            return "OK", _indent(pretty(answer["ok"])[1], 4)
        if "error" in answer:
            return "ERROR", _indent(pretty(answer["error"])[1], 4)
        return "OK", json.dumps(answer, sort_keys=True, indent=4, default=str)
    if isinstance(answer, str):
        return "OK", answer
    return "OK", pformat(answer)


def _say_reply(reply: dict[str, Any], show_reply: bool = False) -> None:
    node = next(iter(reply))
    status, text = pretty(reply[node])
    click.echo(f"->  {node}: {status}")
    if show_reply and text:
        click.echo(_indent(text, 4))


def _online(count: int) -> None:
    click.echo(f"\n{count} {'node' if count == 1 else 'nodes'} online.")


# -- arguments ---------------------------------------------------------------------------------
def compile_arguments(command: str, words: list[str]) -> dict[str, Any]:
    """The shell's words after ``command`` as its arguments (Celery's ``_compile_arguments``)."""
    meta = META[command]
    spec = list(meta.args or ())
    arguments: dict[str, Any] = {}
    for (name, convert), word in zip(spec, words, strict=False):
        try:
            arguments[name] = convert(word) if convert is not None else word
        except ValueError as exc:
            raise click.UsageError(f"Command {command!r}: bad value {word!r} for {name}: "
                                   f"{exc}") from exc
    rest = words[len(spec):]
    if meta.variadic:
        arguments[meta.variadic] = rest
    elif rest:
        raise click.UsageError(f"Command {command!r} takes arguments: {meta.signature}")
    return arguments


def _verify(kind: CommandType, command: str | None) -> str:
    if command is None:
        raise click.UsageError("Missing argument 'COMMAND'.")
    choices = commands_of_type(kind)
    if command not in choices:
        raise click.UsageError(f"Command {command} not recognized. Available {kind} "
                               f"commands: {', '.join(choices)}")
    return command


def _print_list(kind: CommandType) -> None:
    formatter = click.HelpFormatter()
    with formatter.section(f"{kind.capitalize()} Commands"):
        formatter.write_dl([(f"{name} {info.signature}" if info.signature else name, info.help)
                            for name, info in commands_of_type(kind).items()])
    click.echo(formatter.getvalue(), nl=False)


def _list_option(kind: CommandType) -> Callable[[F], F]:
    return click.option("--list", "list_commands", is_flag=True,
                        help=f"List available {kind} commands and exit.")


# -- commands ----------------------------------------------------------------------------------
Sender = Callable[[Control, str, dict[str, Any], "list[str] | None", float,
                   "Callable[[dict[str, Any]], None] | None"], Any]


def _send_inspect(ctl: Control, name: str, arguments: dict[str, Any],
                  destination: list[str] | None, timeout: float,
                  callback: Callable[[dict[str, Any]], None] | None) -> Any:
    inspector = ctl.inspect(timeout=timeout, destination=destination, callback=callback)
    return inspector._request(name, **arguments)


def _send_control(ctl: Control, name: str, arguments: dict[str, Any],
                  destination: list[str] | None, timeout: float,
                  callback: Callable[[dict[str, Any]], None] | None) -> Any:
    """``revoke``/``terminate`` go through ``Control.revoke``: it also writes the durable
    revocation store that workers started later read."""
    options: dict[str, Any] = {"destination": destination, "reply": True, "timeout": timeout,
                               "callback": callback}
    if name in ("revoke", "terminate"):
        return ctl.revoke(arguments.get("task_id") or [],
                          terminate=name == "terminate" or bool(arguments.get("terminate")),
                          signal=arguments.get("signal") or "SIGTERM", **options)
    return ctl.broadcast(name, arguments=arguments, **options)


def _remote_command(kind: CommandType, send: Sender, doc: str) -> click.Command:
    """``celeriac inspect`` or ``celeriac control``: the same flow, as in Celery."""

    @click.command(name=kind, help=doc, context_settings={"allow_extra_args": True})
    @app_options
    @click.argument("command", required=False)
    @_list_option(kind)
    @_remote_options
    @click.pass_context
    def run(ctx: click.Context, command: str | None, list_commands: bool, timeout: float,
            destination: str | None, as_json: bool) -> None:
        state: CliState = ctx.obj
        state.load_app()  # the app module's own commands register on import
        if list_commands:
            _print_list(kind)
            return
        name = _verify(kind, command)
        arguments = compile_arguments(name, list(ctx.args))
        callback = None if as_json else partial(_say_reply, show_reply=True)
        with _control(state) as ctl:
            replies = _remote(f"{kind} {name}", lambda: send(
                ctl, name, arguments, _destination(destination), timeout, callback))
        if not replies:
            raise RemoteCommandError(NO_REPLY)
        if as_json:
            click.echo(json.dumps(replies, default=str))
        elif kind == "inspect":
            _online(len(replies))

    return run


inspect = _remote_command(
    "inspect", _send_inspect,
    "Inspect the workers by sending them the COMMAND inspect command (--list: which).")
control = _remote_command(
    "control", _send_control,
    "Send the COMMAND control command to the workers (--list: which).")


@click.command()
@app_options
@_remote_options
@click.pass_obj
def status(state: CliState, timeout: float, destination: str | None, as_json: bool) -> None:
    """Show list of workers that are online."""
    callback = None if as_json else partial(_say_reply, show_reply=False)
    with _control(state) as ctl:
        inspector = ctl.inspect(timeout=timeout, destination=_destination(destination),
                                callback=callback)
        replies = _remote("status", inspector.ping)
    if not replies:
        raise RemoteCommandError(NO_REPLY)
    if as_json:
        click.echo(json.dumps(replies, default=str))
        return
    _online(len(replies))


COMMANDS = [inspect, control, status]

__all__ = ["COMMANDS", "compile_arguments", "control", "inspect", "pretty", "status"]
