"""``celeriac inspect``, ``celeriac control`` and ``celeriac status``: remote control from a shell.

Output follows Celery's (``->  node: OK`` then the answer, indented) so scripts and habits
carry over; ``--json`` prints the merged ``{node: answer}`` mapping instead. Like Celery, a
command that hears from no node within the timeout exits with status 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import click

from celeriac.cli.main import CliState, app_options
from celeriac.control.control import Control
from celeriac.control.inspect import flatten_replies

F = TypeVar("F", bound=Callable[..., Any])

INSPECT_METHODS = ("ping", "stats", "active", "reserved", "scheduled", "registered", "revoked",
                   "active_queues", "conf", "report", "clock", "query_task")


def _target_options(fun: F) -> F:
    for decorator in (
        click.option("-d", "--destination", help="Comma-separated node names (default: all)."),
        click.option("-t", "--timeout", type=float, default=1.0, show_default=True,
                     help="Seconds to wait for replies."),
        click.option("--json", "as_json", is_flag=True, help="Print the replies as JSON."),
    ):
        fun = decorator(fun)
    return fun


@contextmanager
def _control(state: CliState) -> Iterator[Control]:
    """The app's ``Control``. A broker that is down or cannot broadcast ends the command with
    one ``Error:`` line (``CeleriacGroup``), so closing must not raise over that error."""
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


def _show(replies: dict[str, Any] | None, as_json: bool) -> None:
    """Print replies as Celery does; exit 1 when nobody answered."""
    if not replies:
        if as_json:
            click.echo("{}")
        raise click.ClickException("No nodes replied within time constraint")
    if as_json:
        click.echo(json.dumps(replies, indent=None if len(replies) == 1 else 2, default=str))
        return
    for node, answer in replies.items():
        failed = isinstance(answer, dict) and "error" in answer
        click.echo(f"->  {node}: {'ERROR' if failed else 'OK'}")
        click.echo(_indent(_text(answer)))
    count = len(replies)
    click.echo(f"\n{count} node{'s' if count != 1 else ''} online.")


def _text(answer: Any) -> str:
    if isinstance(answer, dict) and set(answer) <= {"ok", "error"} and len(answer) == 1:
        return str(next(iter(answer.values())))
    if isinstance(answer, list) and all(isinstance(item, str) for item in answer):
        return "\n".join(f"* {item}" for item in answer) or "- empty -"
    if answer in ([], {}):
        return "- empty -"
    return json.dumps(answer, indent=4, default=str)


def _indent(text: str) -> str:
    return "\n".join(f"        {line}" for line in text.splitlines())


@click.command()
@app_options
@click.argument("method", type=click.Choice(INSPECT_METHODS))
@click.argument("arguments", nargs=-1)
@_target_options
@click.pass_obj
def inspect(state: CliState, method: str, arguments: tuple[str, ...], destination: str | None,
            timeout: float, as_json: bool) -> None:
    """Ask workers about their state: METHOD is ping, stats, active, registered..."""
    with _control(state) as control:
        inspector = control.inspect(destination=_destination(destination), timeout=timeout)
        call = getattr(inspector, method)
        result = call(*arguments) if method in ("registered", "query_task") else call()
    _show(result, as_json)


@click.group()
@app_options
def control() -> None:
    """Change workers at run time: revoke, rate_limit, time_limit, shutdown."""


def _act(state: CliState, destination: str | None, timeout: float, as_json: bool,
         action: Callable[[Control, list[str] | None], Any]) -> None:
    with _control(state) as ctl:
        replies = action(ctl, _destination(destination))
    _show(flatten_replies(replies or []), as_json)


@control.command()
@app_options
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--terminate", is_flag=True, help="Also kill the task if it is running.")
@click.option("--signal", "signal_name", default="SIGTERM", show_default=True,
              help="Signal used with --terminate.")
@_target_options
@click.pass_obj
def revoke(state: CliState, task_ids: tuple[str, ...], terminate: bool, signal_name: str,
           destination: str | None, timeout: float, as_json: bool) -> None:
    """Revoke TASK_IDS: no worker will start them, including workers started later."""
    if signal_name.upper() not in {"SIGTERM", "TERM"} and not terminate:
        click.echo(f"Ignored option --signal {signal_name}: only used with --terminate",
                   err=True)
    _act(state, destination, timeout, as_json, lambda ctl, dest: ctl.revoke(
        list(task_ids), destination=dest, terminate=terminate, signal=signal_name,
        reply=True, timeout=timeout))


@control.command("rate_limit")
@app_options
@click.argument("task_name")
@click.argument("rate")
@_target_options
@click.pass_obj
def rate_limit(state: CliState, task_name: str, rate: str, destination: str | None,
               timeout: float, as_json: bool) -> None:
    """Set TASK_NAME's rate limit to RATE (e.g. 10/m; 0 disables it)."""
    _act(state, destination, timeout, as_json, lambda ctl, dest: ctl.rate_limit(
        task_name, rate, destination=dest, reply=True, timeout=timeout))


@control.command("time_limit")
@app_options
@click.argument("task_name")
@click.argument("soft", type=float)
@click.argument("hard", type=float, required=False)
@_target_options
@click.pass_obj
def time_limit(state: CliState, task_name: str, soft: float, hard: float | None,
               destination: str | None, timeout: float, as_json: bool) -> None:
    """Set TASK_NAME's soft (and hard) time limit, in seconds."""
    _act(state, destination, timeout, as_json, lambda ctl, dest: ctl.time_limit(
        task_name, soft=soft, hard=hard, destination=dest, reply=True, timeout=timeout))


@control.command()
@app_options
@_target_options
@click.pass_obj
def shutdown(state: CliState, destination: str | None, timeout: float, as_json: bool) -> None:
    """Ask workers for a warm shutdown (sent without waiting: Celery workers never answer)."""
    with _control(state) as ctl:
        ctl.shutdown(destination=_destination(destination))
    click.echo(json.dumps({"ok": "shutdown sent"}) if as_json else "Shutdown sent.")


@click.command()
@app_options
@_target_options
@click.pass_obj
def status(state: CliState, destination: str | None, timeout: float, as_json: bool) -> None:
    """List the workers that answer a ping."""
    with _control(state) as ctl:
        replies = flatten_replies(ctl.ping(destination=_destination(destination),
                                           timeout=timeout))
    _show(replies, as_json)


COMMANDS = [inspect, control, status]

__all__ = ["COMMANDS", "control", "inspect", "status"]
