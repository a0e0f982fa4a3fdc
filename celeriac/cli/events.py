"""``celeriac events``: watch the cluster's events, as ``celery events`` does.

* ``--dump``: one line per event (Celery's dumper format, ``celeriac.events.dumper``);
* ``--camera module.Class``: a ``Polaroid`` subclass takes a picture of the cluster ``State``
  every ``--frequency`` seconds (at most ``--maxrate``);
* neither: a live view of the workers and the latest tasks, redrawn every ``--frequency``
  seconds; plain text, so it also works with no terminal (each frame is then printed after
  the previous one instead of over it).

The command runs until SIGTERM or Ctrl-C. A broker whose channel cannot broadcast ends it
with one ``Error:`` line.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from celeriac.cli.main import CliState, app_options
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.events.receiver import EventReceiver
    from celeriac.events.state import State

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"]
CLEAR = "\x1b[H\x1b[2J"
RECONNECT_DELAY = 1.0


@click.command()
@app_options
@click.option("-d", "--dump", is_flag=True, help="Print every event as a line.")
@click.option("-c", "--camera", help="Snapshot camera class, as module.Class (a Polaroid).")
@click.option("-F", "--frequency", "--freq", "frequency", type=float, default=1.0,
              show_default=True, help="Seconds between snapshots (and screen refreshes).")
@click.option("-r", "--maxrate", help="Most snapshots per time unit, e.g. 10/m.")
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(LOG_LEVELS, case_sensitive=False), help="Logging level.")
@click.option("-f", "--logfile", type=click.Path(dir_okay=False), help="Log to this file.")
@click.option("--pidfile", type=click.Path(dir_okay=False), help="Write the process id here.")
@click.pass_obj
def events(state: CliState, /, dump: bool, camera: str | None, frequency: float,
           maxrate: str | None, loglevel: str, logfile: str | None,
           pidfile: str | None) -> None:
    """Event-stream utilities: dump events, run a snapshot camera, or watch the cluster."""
    from celeriac.utils.log import log_style, setup_logging

    app = state.load_app()
    conf = app.conf
    setup_logging(loglevel, logfile, conf.worker_log_format, conf.worker_task_log_format,
                  bool(conf.worker_hijack_root_logger), **log_style(conf))
    if frequency <= 0:
        raise click.BadParameter("must be greater than 0", param_hint="'--frequency'")
    if pidfile:
        with open(pidfile, "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()}\n")
    if dump:
        _run_dump(app)
    elif camera:
        _run_camera(app, camera, frequency, maxrate)
    else:
        _run_top(app, frequency)


def _receiver(app: Any, handlers: dict[str, Callable[[dict[str, Any]], Any]]) -> EventReceiver:
    from celeriac.events.receiver import EventReceiver

    return EventReceiver(None, handlers=handlers, app=app)


def _capture(receiver: EventReceiver, say: Callable[[str], None] = click.echo) -> None:
    """Receive until SIGTERM (warm: the current message finishes) or Ctrl-C.

    A monitor outlives broker restarts, as Celery's does: a lost connection is said, and the
    subscription is made again after ``RECONNECT_DELAY`` seconds (events broadcast meanwhile
    are lost: fanout delivery is volatile).
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        receiver.should_stop = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            try:
                receiver.capture(limit=None, timeout=None, wakeup=True)
                return  # should_stop
            except ImproperlyConfigured:
                raise
            except Exception as exc:  # whatever the broker's client raises for a lost link
                if receiver.should_stop:
                    return
                say(f"-> Connection lost ({exc}), reconnecting in {RECONNECT_DELAY:g} s")
                receiver.unsubscribe()
                time.sleep(RECONNECT_DELAY)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.close()


def _run_dump(app: Any) -> None:
    from celeriac.events.dumper import Dumper

    dumper = Dumper(out=sys.stdout)
    receiver = _receiver(app, {"*": dumper.on_event})
    receiver.subscribe()  # before the banner: what happens after it is printed is seen
    dumper.say("-> evdump: starting capture...")
    _capture(receiver, dumper.say)


def _load_camera(path: str) -> type:
    from celeriac.events.snapshot import Polaroid
    from celeriac.utils.imports import import_symbol

    try:
        cls = import_symbol(path)
    except (ImportError, ImproperlyConfigured, ValueError) as exc:
        raise click.BadParameter(f"cannot import {path!r}: {exc}",
                                 param_hint="'--camera'") from exc
    if not (isinstance(cls, type) and issubclass(cls, Polaroid)):
        raise click.BadParameter(f"{path!r} is not a celeriac.events.snapshot.Polaroid "
                                 "subclass", param_hint="'--camera'")
    return cls


def _run_camera(app: Any, path: str, frequency: float, maxrate: str | None) -> None:
    from celeriac.events.state import State

    camera_class = _load_camera(path)
    click.echo(f"-> evcam: Taking snapshots with {path} (every {frequency} secs.)")
    cluster = State()
    try:
        cam = camera_class(cluster, freq=frequency, maxrate=maxrate, app=app)
    except ImproperlyConfigured as exc:
        raise click.BadParameter(str(exc), param_hint="'--maxrate'") from exc
    receiver = _receiver(app, {"*": cluster.event})
    cam.install()
    try:
        _capture(receiver)
    finally:
        cam.cancel()


def _run_top(app: Any, frequency: float) -> None:
    from celeriac.events.snapshot import Polaroid
    from celeriac.events.state import State

    cluster = State()
    tty = sys.stdout.isatty()

    class Screen(Polaroid):
        def on_shutter(self, state: State) -> None:
            frame = render(state, app.broker_url)
            click.echo((CLEAR if tty else "\n") + frame)

    receiver = _receiver(app, {"*": cluster.event})
    with Screen(cluster, freq=frequency, app=app):
        _capture(receiver)


def render(state: State, broker: str, tasks: int = 20, now: float | None = None) -> str:
    """The live view of ``state``: one line per worker, then the latest ``tasks`` tasks."""
    from celeriac.config import redact_url

    now = time.time() if now is None else now
    lines = [f"celeriac events: {redact_url(broker)}  "
             f"{datetime.fromtimestamp(now):%Y-%m-%d %H:%M:%S}  "
             f"events: {state.event_count}  tasks: {state.task_count}", "", "Workers:"]
    workers = sorted(state.workers.values(), key=lambda w: str(w.hostname))
    for worker in workers:
        load = ", ".join(f"{value:.2f}" for value in worker.loadavg or [])
        lines.append(f"  {worker.hostname:<40} {worker.status_string:<8} "
                     f"active={worker.active} processed={worker.processed} load=[{load}]")
    if not workers:
        lines.append("  (none yet)")
    lines += ["", f"Tasks (latest {tasks}):"]
    shown = 0
    for uuid, task in state.tasks_by_time(limit=tasks * 5):
        host = task.worker.hostname if task.worker is not None else task.client
        when = task.timestamp or 0.0
        lines.append(f"  {uuid}  {task.name or '?':<30} {task.state:<8} "
                     f"{datetime.fromtimestamp(when):%H:%M:%S}  {host}")
        shown += 1
        if shown >= tasks:
            break
    if not shown:
        lines.append("  (none yet)")
    return "\n".join(lines)


COMMANDS = [events]

__all__ = ["COMMANDS", "events", "render"]
