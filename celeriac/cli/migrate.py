"""``celeriac migrate SOURCE DESTINATION``: Celery's ``celery migrate``, on
``celeriac.contrib.migrate`` (broker URLs of any celeriac transport, e.g. Redis -> SQLite)."""

from __future__ import annotations

from typing import Any

import click

from celeriac.cli.main import CliState


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("-n", "--limit", type=int, help="Number of tasks to consume.")
@click.option("-t", "--timeout", type=float, default=1.0, show_default=True,
              help="Timeout in seconds waiting for tasks.")
@click.option("-a", "--ack-messages", is_flag=True,
              help="Ack messages from source broker (move them; default: copy).")
@click.option("-T", "--tasks", help="List of task names to filter on.")
@click.option("-Q", "--queues", help="List of queues to migrate (src[:dest],...).")
@click.option("-F", "--forever", is_flag=True, help="Continually migrate tasks until killed.")
@click.pass_obj
def migrate(state: CliState, source: str, destination: str, limit: int | None, timeout: float,
            ack_messages: bool, tasks: str | None, queues: str | None, forever: bool) -> None:
    """Migrate tasks from one broker to another (the app, ``celeriac -A proj migrate``,
    gives the default queues).

    Make sure you have a backup of the tasks before you continue.
    """
    from celeriac.contrib.migrate import migrate_tasks
    from celeriac.contrib.migrate_filter import task_name_of

    def on_migrate_task(progress: Any, body: Any, message: Any) -> None:
        click.echo(f"Migrating task {progress.count}/{progress.strtotal}: "
                   f"{task_name_of(body, message)}[{message.headers.get('id')}]")

    migrate_tasks(source, destination, app=state.load_app(), callback=on_migrate_task,
                  limit=limit, timeout=timeout, ack_messages=ack_messages, tasks=tasks,
                  queues=queues, forever=forever)


COMMANDS = [migrate]
