"""Worker flags that celeriac accepts for Celery compatibility but that change nothing.

A Celery deployment's command line must start a celeriac worker unchanged, so ``-O fair``
and ``--without-mingle`` are accepted. Accepting a flag and
silently ignoring it would let a user believe, say, that task events are on. So each one that
has no effect is named, with the reason, in the start-up banner and as a log warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("celeriac.worker")

_PREFORK = {"prefork", "processes"}


def inert_flag_notes(flags: Mapping[str, Any], pool: str, conf: Any = None) -> list[str]:
    """One sentence per flag given on the command line that will have no effect.

    Args:
        flags: the ``celeriac worker`` parameters as click passed them.
        pool: the pool the worker will run (after the settings were applied).
        conf: the app's settings (unused today; kept for notes that depend on them).
    """
    notes: list[str] = []
    optimization = flags.get("optimization")
    if optimization:
        notes.append(f"-O {optimization}: celeriac has no scheduling profiles; a task always "
                     "goes to a free pool slot, as with Celery's -O fair")
    if flags.get("without_mingle"):
        notes.append("--without-mingle: celeriac workers do not synchronize with other workers "
                     "at start-up; the flag changes nothing")
    if (flags.get("schedule_filename") and not flags.get("beat")):
        notes.append("-s/--schedule-filename: only used with -B; no scheduler runs here")
    pool_name = pool.lower()
    if pool_name not in _PREFORK:
        for name, flag in (("max_tasks_per_child", "--max-tasks-per-child"),
                           ("max_memory_per_child", "--max-memory-per-child")):
            if flags.get(name):
                notes.append(f"{flag}: only the prefork pool replaces its children; "
                             f"ignored with -P {pool_name}")
    if flags.get("autoscale") and flags.get("concurrency"):
        notes.append(f"-c/--concurrency {flags['concurrency']}: --autoscale "
                     f"{flags['autoscale']} sizes the pool (it starts at MIN)")
    if pool_name == "solo" and (flags.get("concurrency") or 0) > 1:
        notes.append(f"-c/--concurrency {flags['concurrency']}: the solo pool runs one task "
                     "at a time")
    return notes


def warn_inert_flags(notes: list[str]) -> None:
    """Log each note as a warning (the banner shows them too)."""
    for note in notes:
        logger.warning("Ignored option %s", note)
