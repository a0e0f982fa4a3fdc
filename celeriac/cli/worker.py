"""``celeriac worker``: flags overlay the app's settings into ``WorkerOptions``, then run."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from celeriac.cli.banner import startup_banner
from celeriac.cli.inert_flags import inert_flag_notes, warn_inert_flags
from celeriac.cli.main import CliState, app_options
from celeriac.cli.user_options import parse_user_options
from celeriac.exceptions import ImproperlyConfigured


def _split(values: tuple[str, ...]) -> list[str]:
    return [q.strip() for value in values for q in value.split(",") if q.strip()]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@app_options
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"],
                                case_sensitive=False))
@click.option("-f", "--logfile", type=click.Path(dir_okay=False), help="Log to this file.")
@click.option("-Q", "--queues", multiple=True, help="Queues to consume, comma separated.")
@click.option("-X", "--exclude-queues", multiple=True, help="Queues not to consume.")
@click.option("-c", "--concurrency", type=int, help="Pool size (default: number of CPUs).")
@click.option("-P", "--pool", type=click.Choice(["prefork", "threads", "solo", "processes"],
                                                case_sensitive=False))
@click.option("-n", "--hostname", help="Node name; %h, %n and %d are expanded.")
@click.option("--autoscale", help="MAX,MIN: grow the pool up to MAX processes under load, "
              "shrink it to MIN (at least 1) when idle.")
@click.option("--prefetch-multiplier", type=int)
@click.option("--max-tasks-per-child", type=int)
@click.option("--max-memory-per-child", type=int, help="kB of resident memory.")
@click.option("-E", "--task-events", is_flag=True,
              help="Send task events for monitors [default: worker_send_task_events].")
@click.option("-B", "--beat", is_flag=True, help="Also run the periodic task scheduler.")
@click.option("-s", "--schedule-filename", help="Beat schedule file (with -B).")
@click.option("-O", "--optimization", "optimization",
              type=click.Choice(["default", "fair"], case_sensitive=False),
              help="Accepted for compatibility; tasks always go to a free slot (warns).")
@click.option("--statedb", help="Persistent revoked-ids file [default: worker_state_db]; "
              "%n, %h, %d expand as in Celery.")
@click.option("--without-gossip", is_flag=True,
              help="Take no part in gossip: no elections, no log of other workers joining.")
@click.option("--without-mingle", is_flag=True, hidden=True)
@click.option("--without-heartbeat", is_flag=True,
              help="Send no worker events (online, heartbeat, offline), as Celery's flag.")
@click.option("--heartbeat-interval", type=click.FloatRange(min=0, min_open=True),
              help="Seconds between worker-heartbeat events [default: 2.0].")
@click.pass_obj
def worker(state: CliState, /, loglevel: str, logfile: str | None, queues: tuple[str, ...],
           exclude_queues: tuple[str, ...], concurrency: int | None, pool: str | None,
           hostname: str | None, autoscale: str | None, prefetch_multiplier: int | None,
           max_tasks_per_child: int | None, max_memory_per_child: int | None,
           **flags: Any) -> None:
    """Start a worker that consumes tasks and executes them."""
    from celeriac.worker.autoscale import parse_autoscale
    from celeriac.worker.worker import Worker, WorkerOptions

    app = state.load_app()
    conf = app.conf
    user_values = parse_user_options(app, "worker", click.get_current_context().args)
    configure_logging(loglevel, logfile, conf)
    _redirect_stdouts(conf)
    app.loader_import_modules()
    if flags.get("task_events"):  # -E is Celery's worker_send_task_events
        conf.worker_send_task_events = True
    from celeriac.routing.queues import queue_set

    excluded = set(_split(exclude_queues))
    wanted = _split(queues) or list(queue_set(conf).configured)  # no -Q: every task_queues entry
    selected = [q for q in wanted if q not in excluded]
    try:
        scale = parse_autoscale(autoscale) if autoscale else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--autoscale") from None
    options = WorkerOptions(
        queues=selected,
        concurrency=concurrency or int(conf.worker_concurrency or 0) or (os.cpu_count() or 1),
        pool=pool or str(conf.worker_pool or "prefork"),
        hostname=hostname or "",
        prefetch_multiplier=prefetch_multiplier,  # None: the setting (the worker knows if set)
        max_tasks_per_child=max_tasks_per_child or conf.worker_max_tasks_per_child,
        max_memory_per_child=max_memory_per_child or conf.worker_max_memory_per_child,
        beat=bool(flags.get("beat")), schedule_filename=flags.get("schedule_filename"),
        statedb=flags.get("statedb"), autoscale=scale,
        heartbeat_interval=0 if flags.get("without_heartbeat") else flags.get(
            "heartbeat_interval"),
        user_options=user_values,
        without_gossip=bool(flags.get("without_gossip")),
    )
    try:
        instance = Worker(app, options)
    except ImproperlyConfigured as exc:  # e.g. a result store that cannot be built
        raise click.ClickException(f"Cannot start the worker: {exc}") from None
    notes = inert_flag_notes({**flags, "concurrency": concurrency, "autoscale": autoscale,
                              "max_tasks_per_child": max_tasks_per_child,
                              "max_memory_per_child": max_memory_per_child}, options.pool,
                             conf)
    click.echo(startup_banner(app, instance, ignored=notes), err=True)
    warn_inert_flags(notes)
    code = instance.run()
    if instance.abandoned:
        # Cold shutdown left task threads running; their messages are back on the broker,
        # and Python would otherwise wait for them at exit.
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


def configure_logging(loglevel: str, logfile: str | None, conf: Any) -> None:
    """Set up logging as Celery does: a ``setup_logging`` receiver replaces ours entirely;
    otherwise install the worker's handler, then send ``after_setup_logger`` and
    ``after_setup_task_logger`` so users can add their own handlers."""
    from celeriac import signals
    from celeriac.utils.log import TASK_LOGGER_NAME, log_style, setup_logging

    level = logging.getLevelName(loglevel.upper())
    if signals.setup_logging.has_receivers:
        signals.setup_logging.send(sender=None, loglevel=level, logfile=logfile,
                                   format=conf.worker_log_format, colorize=False)
        return
    setup_logging(loglevel, logfile, conf.worker_log_format, conf.worker_task_log_format,
                  bool(conf.worker_hijack_root_logger), **log_style(conf))
    colorize = not logfile and sys.stderr.isatty()
    if conf.worker_log_color is not None:
        colorize = bool(conf.worker_log_color)
    root = logging.getLogger() if conf.worker_hijack_root_logger else logging.getLogger("celeriac")
    signals.after_setup_logger.send(sender=None, logger=root, loglevel=level, logfile=logfile,
                                    format=conf.worker_log_format, colorize=colorize)
    task_logger = logging.getLogger(TASK_LOGGER_NAME)  # its records reach our handler
    signals.after_setup_task_logger.send(sender=None, logger=task_logger, loglevel=level,
                                         logfile=logfile, format=conf.worker_task_log_format,
                                         colorize=colorize)


def _redirect_stdouts(conf: Any) -> None:
    if not conf.worker_redirect_stdouts:
        return
    from celeriac.utils.log import LoggingProxy

    level = logging.getLevelName(str(conf.worker_redirect_stdouts_level or "WARNING").upper())
    logger = logging.getLogger("celeriac.redirected")
    sys.stdout = LoggingProxy(logger, level)
