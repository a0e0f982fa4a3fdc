"""The ``celeriac`` command (click). Commands only parse flags and call the library.

``-A`` is accepted before or after the sub-command (``celeriac -A proj worker`` and the older
``celeriac worker -A proj``), as are ``-b`` and ``--result-backend``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from celeriac import __version__

if TYPE_CHECKING:
    from celeriac.app.base import Celery

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """What the group options said; sub-commands complete and use it."""

    app_name: str | None = None
    broker: str | None = None
    result_backend: str | None = None
    app_object: Celery | None = None

    def load_app(self) -> Celery:
        if self.app_object is not None:
            app = self.app_object
        elif self.app_name:
            from celeriac.cli.app_loading import find_app
            from celeriac.exceptions import ImproperlyConfigured

            try:
                app = find_app(self.app_name)
            except ImproperlyConfigured as exc:  # a usage error, as Celery reports it
                raise click.BadParameter(str(exc), param_hint="'-A' / '--app'") from exc
        else:
            import celeriac.app.base  # noqa: F401  (registers the default-app factory)
            from celeriac import _state

            app = _state.get_current_app()
        if self.broker:
            app.conf.broker_url = self.broker
        if self.result_backend:
            app.conf.result_backend = self.result_backend
        self.app_object = app
        return app


def app_options(fun: F) -> F:
    """``-A/-b/--result-backend`` on a sub-command, merged into the group's state."""

    def merge(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            state = ctx.ensure_object(CliState)
            setattr(state, {"app": "app_name"}.get(param.name or "", param.name or ""), value)
        return value

    for decorator in (
        click.option("-A", "--app", expose_value=False, callback=merge, is_eager=True,
                     help="Application: module, module:attr or package."),
        click.option("-b", "--broker", expose_value=False, callback=merge, is_eager=True,
                     help="Broker URL (overrides the app's)."),
        click.option("--result-backend", expose_value=False, callback=merge, is_eager=True,
                     help="Result store URL (overrides the app's)."),
    ):
        fun = decorator(fun)
    return fun


class CeleriacGroup(click.Group):
    """The command group: a broker or store that is down or misconfigured ends any command
    with one ``Error:`` line and status 1, as click reports its own errors, not a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from celeriac.exceptions import ImproperlyConfigured, OperationalError

        try:
            return super().invoke(ctx)
        except (OperationalError, ImproperlyConfigured) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=CeleriacGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-A", "--app", "app_name", help="Application: module, module:attr or package.")
@click.option("-b", "--broker", help="Broker URL.")
@click.option("--result-backend", help="Result store URL.")
@click.option("--workdir", type=click.Path(file_okay=False), help="Change to this folder first.")
@click.version_option(__version__, "--version", prog_name="celeriac")
@click.pass_context
def cli(ctx: click.Context, app_name: str | None, broker: str | None,
        result_backend: str | None, workdir: str | None) -> None:
    """celeriac: a fast, reliable task queue that speaks Celery's protocol."""
    if workdir:
        os.chdir(workdir)
    state = ctx.ensure_object(CliState)
    state.app_name = state.app_name or app_name
    state.broker = state.broker or broker
    state.result_backend = state.result_backend or result_backend


def _register_commands() -> None:
    from celeriac.cli import misc, worker

    cli.add_command(worker.worker)
    for command in misc.COMMANDS:
        cli.add_command(command)
    for module_name in ("celeriac.cli.beat", "celeriac.cli.control", "celeriac.cli.events",
                        "celeriac.cli.migrate"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        fallback = [getattr(module, module_name.rsplit(".", 1)[1], None)]
        for command in getattr(module, "COMMANDS", fallback):
            if isinstance(command, click.Command):
                cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``celeriac`` script."""
    cli.main(args=argv, prog_name="celeriac", obj=CliState())


def run_with_app(app: Celery, argv: list[str] | None) -> None:
    """``app.start()``: the CLI with an already built app."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="celeriac",
             obj=CliState(app_object=app))
