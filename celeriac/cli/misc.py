"""Small commands: ``call``, ``result``, ``purge`` and ``deadletter``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from celeriac.cli.main import CliState, app_options


def _json_arg(value: str | None, kind: type, flag: str) -> Any:
    if not value:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"{flag} must be JSON: {exc}") from exc
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"{flag} must be a JSON {kind.__name__}")
    return parsed


@click.command()
@app_options
@click.argument("name")
@click.option("-a", "--args", "args_json", help="Positional arguments as a JSON list.")
@click.option("-k", "--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option("--countdown", type=float)
@click.option("--eta", help="ISO-8601 time.")
@click.option("--expires", type=float)
@click.option("-Q", "--queue")
@click.option("--serializer")
@click.pass_obj
def call(state: CliState, name: str, args_json: str | None, kwargs_json: str | None,
         countdown: float | None, eta: str | None, expires: float | None, queue: str | None,
         serializer: str | None) -> None:
    """Send task NAME and print its id."""
    app = state.load_app()
    options: dict[str, Any] = {k: v for k, v in {
        "countdown": countdown, "expires": expires, "queue": queue, "serializer": serializer,
        "eta": datetime.fromisoformat(eta).astimezone(UTC) if eta else None}.items() if v}
    result = app.send_task(name, _json_arg(args_json, list, "--args"),
                           _json_arg(kwargs_json, dict, "--kwargs"), **options)
    click.echo(result.id)


@click.command()
@app_options
@click.argument("task_id")
@click.option("--traceback", "show_traceback", is_flag=True, help="Show the traceback.")
@click.pass_obj
def result(state: CliState, task_id: str, show_traceback: bool) -> None:
    """Print the state and value of TASK_ID."""
    app = state.load_app()
    handle = app.AsyncResult(task_id)
    if show_traceback:
        click.echo(handle.traceback or "")
        return
    value = handle.result
    click.echo(f"{handle.state}: {value!r}" if handle.state != "SUCCESS" else repr(value))


@click.command()
@app_options
@click.option("-Q", "--queues", multiple=True, help="Queues to purge (default: the default).")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def purge(state: CliState, queues: tuple[str, ...], force: bool) -> None:
    """Delete every waiting message from the queues."""
    app = state.load_app()
    names = [q for value in queues for q in value.split(",") if q] or [
        str(app.conf.task_default_queue)]
    if not force:
        click.confirm(f"Delete all messages in {', '.join(names)}?", abort=True)
    channel = app.transport.channel()
    try:
        total = sum(channel.purge(name) for name in names)
    finally:
        channel.close()
    click.echo(f"Purged {total} message{'s' if total != 1 else ''} from "
               f"{len(names)} known task queue{'s' if len(names) != 1 else ''}.")


@click.group()
def deadletter() -> None:
    """Inspect and handle messages that were set aside (bad or unknown messages)."""


@deadletter.command("list")
@app_options
@click.option("--limit", default=100, show_default=True)
@click.pass_obj
def deadletter_list(state: CliState, limit: int) -> None:
    """List set-aside messages with their reason."""
    channel = state.load_app().transport.channel()
    try:
        letters = channel.dead_letters(limit)
    finally:
        channel.close()
    if not letters:
        click.echo("No messages set aside.")
    for letter in letters:
        when = datetime.fromtimestamp(letter.set_aside_at, UTC).isoformat(timespec="seconds")
        click.echo(f"{letter.id}  {when}  queue={letter.queue}  reason: {letter.reason}")


@deadletter.command("requeue")
@app_options
@click.argument("ids", nargs=-1)
@click.pass_obj
def deadletter_requeue(state: CliState, ids: tuple[str, ...]) -> None:
    """Put set-aside messages (all, or the given IDS) back on their queues."""
    channel = state.load_app().transport.channel()
    try:
        count = channel.requeue_dead_letters(list(ids) or None)
    finally:
        channel.close()
    click.echo(f"Requeued {count} message(s).")


@deadletter.command("purge")
@app_options
@click.pass_obj
def deadletter_purge(state: CliState) -> None:
    """Delete every set-aside message."""
    channel = state.load_app().transport.channel()
    try:
        count = channel.purge_dead_letters()
    finally:
        channel.close()
    click.echo(f"Deleted {count} set-aside message(s).")


COMMANDS = [call, result, purge, deadletter]
