"""One line per event, as ``celery events --dump`` prints them (Celery's ``Dumper``).

``<hostname> [<UTC timestamp>] <what>: <fields>``, where *what* is ``started``,
``heartbeat`` or ``shutdown`` for worker events and ``task succeeded`` and the like for task
events, followed by the task (``name(uuid) args=... kwargs=...``, remembered from its
``task-received`` or ``task-sent``) and the remaining fields sorted by name. Scripts that
parse Celery's dump parse this one.
"""

from __future__ import annotations

import sys
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TextIO

from celeriac.events.state_lru import LRUCache

HUMAN_TYPES = {
    "worker-offline": "shutdown",
    "worker-online": "started",
    "worker-heartbeat": "heartbeat",
}


def humanize_type(type_: str) -> str:
    """``worker-online`` → ``started``; ``task-succeeded`` → ``task succeeded``."""
    return HUMAN_TYPES.get(type_.lower(), type_.lower().replace("-", " "))


class Dumper:
    """Formats events and writes each as a line to ``out``, flushed (so it can be piped)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.task_names: LRUCache[str, str] = LRUCache(limit=0xFFF)

    def say(self, message: str) -> None:
        print(message, file=self.out)
        with suppress(AttributeError, ValueError):  # an odd stream: the line was written
            self.out.flush()

    def format(self, event: dict[str, Any]) -> str:
        """The line for ``event``; the dict is not changed."""
        fields = dict(event)
        timestamp = datetime.fromtimestamp(float(fields.pop("timestamp")), UTC)
        type_ = str(fields.pop("type")).lower()
        hostname = fields.pop("hostname", None)
        task = ""
        if type_.startswith("task-"):
            uuid = str(fields.pop("uuid", ""))
            if type_ in ("task-received", "task-sent"):
                task = self.task_names[uuid] = (
                    f"{fields.pop('name', None)}({uuid}) args={fields.pop('args', None)} "
                    f"kwargs={fields.pop('kwargs', None)}")
            else:
                task = self.task_names.get(uuid) or ""
        rest = ", ".join(f"{key}={fields[key]}" for key in sorted(fields))
        sep = ":" if rest else ""
        if type_.startswith("task-"):
            return f"{hostname} [{timestamp}] {humanize_type(type_)}{sep} {task} {rest}"
        return f"{hostname} [{timestamp}] {humanize_type(type_)}{sep} {rest}"

    def on_event(self, event: dict[str, Any]) -> None:
        """A receiver handler: print ``event``'s line."""
        self.say(self.format(event))


__all__ = ["HUMAN_TYPES", "Dumper", "humanize_type"]
