"""Chaos run: kill -9 a worker every 2 s next to a stable one, then count lost and repeated tasks.

    .venv/bin/python -m bench.chaos [--broker sqlite redis amqp] [--tasks 6000] [--acks-late]
                                    [--system celeriac|celery] [--pool solo]

For each broker: publish ``--tasks`` tasks, start a stable worker and a victim worker beside
it, SIGKILL the victim (and its pool children) every ``--every`` seconds for ``--for`` seconds,
starting a new victim after each kill, then let the stable worker drain the queue. Every task
sleeps ``--task-ms`` and then writes one row to a SQLite file that is not under test (one row per
completed execution), so the counts are exact: sent, ran exactly once, ran more than once, and
lost (never ran). Workers use their defaults (pool, concurrency, early acknowledgement) unless
``--pool`` or ``--acks-late`` say otherwise.

Each run has its own broker and cleans it up: a temporary SQLite file, a private redis-server
(``bench/redis_server.py``), or a RabbitMQ vhost created and deleted with ``rabbitmqctl``.
Processes are stopped by PID. ``--system celery`` runs Celery 5 workers in the same loop
(Redis and RabbitMQ only); on Redis its early-acked task is lost when killed, and its
prefetched messages wait in ``unacked`` until ``visibility_timeout`` (1 hour), which the table
shows as lost with the ``unacked`` count beside it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.common import BIN, print_table, write_project
from bench.redis_server import private_redis

APP = """
import os, sqlite3, time
from {package} import Celery

app = Celery("chaos_app", broker={broker!r})
app.conf.update(task_acks_late={acks_late!r}, task_ignore_result=True,
                worker_hijack_root_logger=False)
RECORDS = {records!r}
_db = {{}}


def _records():
    pid = os.getpid()
    if pid not in _db:  # one connection per process: pool children are forked after import
        _db.clear()
        _db[pid] = sqlite3.connect(RECORDS, timeout=60, isolation_level=None)
    return _db[pid]


@app.task(name="chaos.record", ignore_result=True)
def record(n):
    time.sleep({task_seconds!r})
    _records().execute("INSERT INTO runs (n, pid) VALUES (?, ?)", (n, os.getpid()))
"""


@dataclass
class Outcome:
    broker: str
    sent: int
    once: int
    repeated: int
    lost: int
    kills: int
    victim_runs: int
    busy_after_kills: bool
    drain_seconds: float | None
    note: str = ""


@contextmanager
def broker_url(kind: str) -> Iterator[str]:
    """A broker of this run's own: a temp SQLite file, a private Redis, or a fresh vhost."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="chaos-sqlite-") as directory:
            yield f"sqlite:///{directory}/broker.db"
    elif kind == "redis":
        with private_redis() as url:
            yield f"{url}/0"
    else:
        if shutil.which("rabbitmqctl") is None:
            raise SystemExit("rabbitmqctl not found: the amqp run creates and deletes a vhost")
        vhost = f"celeriac_chaos_{uuid.uuid4().hex[:8]}"
        _rabbitmqctl("add_vhost", vhost)
        try:
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        finally:
            _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


class Worker:
    """One worker process (celeriac or Celery) logging to ``<workdir>/<label>.log``."""

    def __init__(self, args: argparse.Namespace, workdir: Path, node: str, label: str) -> None:
        program = "celery" if args.system == "celery" else "celeriac"
        command = [str(BIN / program), "-A", "chaos_app", "worker", "-l", args.loglevel, "-n", node]
        if args.pool:
            command += ["-P", args.pool]
        command += args.worker_arg
        with open(workdir / f"{label}.log", "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(workdir)},
            )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a crash or the OOM killer would."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.process.kill()
        for child in children:
            with suppress(psutil.NoSuchProcess):
                child.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown by PID (SIGTERM); SIGKILL if it does not exit in 60 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process.poll() is None

    def pids(self) -> set[int]:
        """The worker's process and its pool children (the PIDs its tasks record)."""
        try:
            main = psutil.Process(self.process.pid)
            return {main.pid, *(child.pid for child in main.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()


def counts(records: Path) -> tuple[int, int, int]:
    """(distinct tasks run, tasks run once, tasks run more than once)."""
    with sqlite3.connect(records, timeout=60) as db:
        row = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(c = 1), 0), COALESCE(SUM(c > 1), 0)"
            " FROM (SELECT COUNT(*) AS c FROM runs GROUP BY n)"
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def runs_outside(records: Path, pids: set[int]) -> int:
    """Executions recorded by processes other than ``pids`` (the victims)."""
    with sqlite3.connect(records, timeout=60) as db:
        rows = db.execute("SELECT pid, COUNT(*) FROM runs GROUP BY pid").fetchall()
    return sum(int(count) for pid, count in rows if pid not in pids)


def total_runs(records: Path) -> int:
    with sqlite3.connect(records, timeout=60) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def publish(module: Any, system: str, count: int) -> None:
    if system == "celeriac":
        with module.app.publish_batch():
            for n in range(count):
                module.record.delay(n)
    else:
        for n in range(count):
            module.record.delay(n)


def kill_loop(args: argparse.Namespace, workdir: Path) -> int:
    """Start a victim, SIGKILL it every ``args.every`` s for ``args.duration`` s, starting a
    new one after each kill but the last; returns the number of kills."""
    kills = max(1, int(args.duration / args.every))
    start = time.monotonic()
    victim = Worker(args, workdir, "victim@%h", "victim-0")
    for k in range(1, kills + 1):
        time.sleep(max(0.0, start + k * args.every - time.monotonic()))
        victim.kill()
        if k < kills:
            victim = Worker(args, workdir, "victim@%h", f"victim-{k}")
    return kills


def wait_drained(records: Path, sent: int, quiet: float, give_up: float,
                 stable: Worker) -> float | None:
    """Wait until every task ran and nothing new ran for ``quiet`` s (so late duplicates are
    counted), or nothing new ran for ``give_up`` s (the rest is lost), or the stable worker
    died. Returns the seconds until every task had run, or None if some never did."""
    started = time.monotonic()
    all_ran: float | None = None
    last, changed = -1, started
    while stable.alive():
        runs = total_runs(records)
        if runs != last:
            last, changed = runs, time.monotonic()
        if all_ran is None and counts(records)[0] >= sent:
            all_ran = time.monotonic() - started
        idle = time.monotonic() - changed
        if (all_ran is not None and idle >= quiet) or idle >= give_up:
            break
        time.sleep(0.5)
    return all_ran


def redis_unacked(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.hlen("unacked"))
    finally:
        client.close()


def run(kind: str, args: argparse.Namespace) -> Outcome:
    with broker_url(kind) as url, tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        workdir = Path(tmp)
        records = workdir / "runs.db"
        with sqlite3.connect(records) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE runs (n INTEGER NOT NULL, pid INTEGER NOT NULL)")
        module_name = "chaos_app"
        write_project(workdir, module_name, APP.format(
            package=args.system, broker=url, acks_late=args.acks_late, records=str(records),
            task_seconds=args.task_ms / 1000))
        sys.modules.pop(module_name, None)
        module: Any = importlib.import_module(module_name)
        publish(module, args.system, args.tasks)
        stable = Worker(args, workdir, "stable@%h", "stable")
        try:
            kills = kill_loop(args, workdir)
            busy = counts(records)[0] < args.tasks
            drain_seconds = wait_drained(records, args.tasks, args.quiet, args.give_up, stable)
            note = "" if stable.alive() else "the stable worker died"
            victim_runs = runs_outside(records, stable.pids())
        finally:
            stable.stop()
            sys.path.remove(str(workdir))
            if hasattr(module.app, "close"):
                module.app.close()
        distinct, once, repeated = counts(records)
        if args.system == "celery" and kind == "redis":
            note = f"{redis_unacked(url)} in unacked (back after visibility_timeout)"
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="chaos-kept-"))
            shutil.copytree(workdir, kept, dirs_exist_ok=True)
            note = f"{note} logs: {kept}".strip()
        return Outcome(kind, args.tasks, once, repeated, args.tasks - distinct, kills,
                       victim_runs, busy,
                       drain_seconds, note)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", nargs="+", choices=["sqlite", "redis", "amqp"],
                        default=["sqlite", "redis", "amqp"])
    parser.add_argument("--system", choices=["celeriac", "celery"], default="celeriac")
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--task-ms", type=float, default=20.0,
                        help="each task sleeps this long before recording its run")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--for", dest="duration", type=float, default=30.0,
                        help="seconds of killing")
    parser.add_argument("--acks-late", action="store_true", help="task_acks_late=True")
    parser.add_argument("--pool", default=None, help="worker pool (default: the worker's)")
    parser.add_argument("--quiet", type=float, default=15.0,
                        help="once every task ran, wait until nothing ran for this long (more "
                             "than the lease timeout, so late duplicates are counted)")
    parser.add_argument("--give-up", type=float, default=120.0,
                        help="stop waiting when nothing ran for this long")
    parser.add_argument("--worker-arg", action="append", default=[],
                        help="an extra worker argument (repeat), e.g. --worker-arg=-O")
    parser.add_argument("--loglevel", default="warning", help="the workers' -l")
    parser.add_argument("--keep", action="store_true", help="keep the workers' logs")
    args = parser.parse_args()
    if args.system == "celery" and "sqlite" in args.broker:
        parser.error("Celery has no SQLite broker: use --broker redis amqp")
    return args


def main() -> None:
    args = parse_args()
    outcomes = [run(kind, args) for kind in args.broker]
    pool = " ".join([args.pool or "default pool", *args.worker_arg])
    acks = "acks_late" if args.acks_late else "early acks"
    print_table(
        f"kill -9 every {args.every:g} s for {args.duration:g} s next to a stable worker: "
        f"{args.system}, {pool}, {acks}, {args.tasks:,} tasks of {args.task_ms:g} ms",
        ["broker", "sent", "ran once", "ran more than once", "lost", "kills", "runs on victims",
         "queue busy after the kills", "all ran, s after the kills", "note"],
        [[o.broker, o.sent, o.once, o.repeated, o.lost, o.kills, o.victim_runs,
          "yes" if o.busy_after_kills else "no",
          "never" if o.drain_seconds is None else f"{o.drain_seconds:.1f}", o.note]
         for o in outcomes],
    )


if __name__ == "__main__":
    main()
