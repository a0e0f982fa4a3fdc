"""Shared benchmark plumbing: temporary projects, worker processes stopped by PID, tables."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


@contextmanager
def worker_process(command: Sequence[str], workdir: Path, log_name: str,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a worker command in ``workdir``; stop it by PID (SIGTERM, then SIGKILL)."""
    log = open(workdir / log_name, "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        list(command), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(workdir), **(env or {})},
    )
    try:
        yield process
    finally:
        stop_process(process, grace=30)
        log.close()


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop ``process`` by its PID: SIGTERM, then SIGKILL if it outlives ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def write_project(workdir: Path, name: str, source: str) -> None:
    (workdir / f"{name}.py").write_text(textwrap.dedent(source))
    if str(workdir) not in sys.path:
        sys.path.insert(0, str(workdir))


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Print (and return) a Markdown table, so results paste into notes and the README."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    for row in rows:
        cells = [f"{c:,.0f}" if isinstance(c, float) and c >= 100 else
                 f"{c:.3f}" if isinstance(c, float) else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def comparison_parser(doc: str | None, broker_flag: str, broker_default: str | None,
                      broker_help: str | None = None) -> argparse.ArgumentParser:
    """The command line every celeriac-vs-Celery benchmark shares, plus its broker URL flag."""

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--celery-tasks", type=int, default=None,
                        help="tasks for Celery's drains and publishes (default: tasks / 5, "
                             "at least 1,000: it is slow)")
    parser.add_argument(broker_flag, default=broker_default, help=broker_help)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--prefetch", type=int, default=None,
                        help="prefetch multiplier for both (default: each system's own)")
    return parser
