"""The result record: what a worker stores and a client reads back (wire-protocol.md §4.1).

The field order matters to nobody but is kept as Celery writes it, so records look alike in
``redis-cli``. ``result`` holds the return value, or an encoded exception for the exception
states (see ``exception_codec``). Extended fields appear only with ``result_extended``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celeriac import states
from celeriac.exceptions import DecodeError
from celeriac.serialization.json_codec import json_loads
from celeriac.utils.saferepr import saferepr

_EXTENDED = ("name", "args", "kwargs", "worker", "retries", "queue")


@dataclass(frozen=True, slots=True)
class ResultMeta:
    """One task's recorded state. A missing record reads as ``ResultMeta(id, PENDING)``."""

    task_id: str
    status: str = states.PENDING
    result: Any = None
    traceback: str | None = None
    children: list[Any] | None = field(default_factory=list)
    date_done: str | None = None
    group_id: str | None = None
    parent_id: str | None = None
    extended: dict[str, Any] | None = None

    @property
    def ready(self) -> bool:
        return self.status in states.READY_STATES

    def to_dict(self) -> dict[str, Any]:
        """The JSON object Celery's key-value backends store, fields in Celery's order."""
        record: dict[str, Any] = {
            "status": self.status,
            "result": self.result,
            "traceback": self.traceback,
            "children": self.children,
            "date_done": self.date_done,
        }
        if self.group_id is not None:
            record["group_id"] = self.group_id
        if self.parent_id is not None:
            record["parent_id"] = self.parent_id
        if self.extended:
            record.update(self.extended)
        record["task_id"] = self.task_id
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any], task_id: str | None = None) -> ResultMeta:
        """Read a stored record; tolerant of older Celery versions' field sets."""
        extended = {key: record[key] for key in _EXTENDED if key in record}
        return cls(
            task_id=str(record.get("task_id") or task_id or ""),
            status=str(record.get("status", states.PENDING)),
            result=record.get("result"),
            traceback=record.get("traceback"),
            children=record.get("children"),
            date_done=record.get("date_done"),
            group_id=record.get("group_id"),
            parent_id=record.get("parent_id"),
            extended=extended or None,
        )


def decode_record(data: bytes | bytearray | memoryview | str, task_id: str,
                  loads: Callable[[Any], Any] = json_loads) -> ResultMeta:
    """Read a stored result record (the bytes a result store holds for ``task_id``).

    ``loads`` is the store's decoder (JSON unless ``result_serializer`` says otherwise).

    Raises:
        DecodeError: the bytes do not decode, or not to a mapping: a sentence naming the task
            and what is wrong, instead of the parser's own exception (written by something
            other than celeriac or Celery, or corrupted).
        ContentDisallowed: the record's serializer is not accepted (never decoded).
    """
    try:
        record = loads(data)
    except (ValueError, RecursionError, DecodeError) as exc:  # Unicode/JSONDecodeError too
        what = "is not UTF-8" if isinstance(exc, UnicodeDecodeError) else "does not decode"
        raise DecodeError(
            f"The stored result of task {task_id} {what} ({len(data)} bytes: "
            f"{bytes(data[:40]) if not isinstance(data, str) else data[:40]!r}...): {exc}. "
            "celeriac reads results stored by an accepted result_serializer (JSON by default)."
        ) from exc
    if not isinstance(record, dict):
        raise DecodeError(
            f"The stored result of task {task_id} is not a mapping but a "
            f"{type(record).__name__}: {saferepr(record, maxlen=80)}"
        )
    return ResultMeta.from_dict(record, task_id)


def now_iso() -> str:
    """``date_done`` as Celery 5.5+ writes it: aware UTC ISO-8601."""
    return datetime.now(UTC).isoformat()


def parse_date_done(value: str | None) -> datetime | None:
    """Parse ``date_done``; naive strings (Celery 5.2/5.3) are read as UTC (pitfall §7.8)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
