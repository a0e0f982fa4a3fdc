"""``celeriac beat``: run the periodic task scheduler in this process until SIGTERM/SIGINT.

``celeriac -A proj beat`` and the older ``celeriac beat -A proj`` both work. Stopping is warm:
the current tick finishes, run state is saved, the lease is released (a standby beat takes over
at its next try) and the command exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from types import FrameType

import click

from celeriac import __version__
from celeriac.cli.main import CliState, app_options
from celeriac.config import redact_url


@click.command()
@app_options
@click.option(
    "-s",
    "--schedule",
    "schedule_filename",
    help="Run-state file (SQLite) [default: beat_schedule_filename, 'celerybeat-schedule'].",
)
@click.option("-S", "--scheduler", help="Scheduler class, as module:Class.")
@click.option(
    "--max-interval",
    type=float,
    help="Longest sleep between schedule checks, in seconds [default: 300].",
)
@click.option(
    "-l",
    "--loglevel",
    default="WARNING",
    show_default=True,
    type=click.Choice(
        ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"], case_sensitive=False
    ),
)
@click.option("-f", "--logfile", type=click.Path(dir_okay=False), help="Log to this file.")
@click.option("--pidfile", type=click.Path(dir_okay=False), help="Write the process id here.")
@click.pass_obj
def beat(
    state: CliState,
    /,
    schedule_filename: str | None,
    scheduler: str | None,
    max_interval: float | None,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
) -> None:
    """Start the periodic task scheduler (only one per broker sends; others stand by)."""
    from celeriac.beat.embedded import build_scheduler, send_beat_init
    from celeriac.utils.log import log_style, setup_logging

    app = state.load_app()
    conf = app.conf
    setup_logging(
        loglevel,
        logfile,
        conf.worker_log_format,
        conf.worker_task_log_format,
        bool(conf.worker_hijack_root_logger),
        **log_style(conf),
    )
    instance = build_scheduler(app, scheduler, schedule_filename, max_interval)
    if pidfile:
        _write_pidfile(pidfile)
    options = instance.options
    info_line = f"{instance.info}\n" if instance.info else ""  # a subclass's banner line
    click.echo(
        f"celeriac beat v{__version__} is starting.\n"
        f"LocalTime -> {datetime.now():%Y-%m-%d %H:%M:%S}\n"
        "Configuration ->\n"
        f"    . broker -> {redact_url(app.broker_url)}\n"
        f"    . scheduler -> {type(instance).__module__}.{type(instance).__qualname__}\n"
        f"{info_line}"
        f"    . db -> {options.schedule_filename or '(memory)'}\n"
        f"    . logfile -> {logfile or '[stderr]'}@%{loglevel.upper()}\n"
        f"    . maxinterval -> {options.max_interval:g}s",
        err=True,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    send_beat_init(instance, embedded=False)
    instance.run(stop)
    sys.exit(0)


def _write_pidfile(path: str) -> None:
    import os

    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
