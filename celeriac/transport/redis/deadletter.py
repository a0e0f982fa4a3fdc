"""The dead-letter list: messages set aside with their reason, never dropped.

Each entry of ``<prefix>celeriac.deadletter`` is a JSON record
``{"id", "queue", "reason", "time", "payload"}`` appended with RPUSH, so the list reads oldest
first. ``payload`` is the raw envelope as text; bytes that are not UTF-8 survive the round trip
through ``surrogateescape`` (JSON escapes them as ``\\udcXX``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.protocol.envelope import envelope_priority
from celeriac.transport.base import DeadLetter
from celeriac.transport.redis.keys import as_bytes

if TYPE_CHECKING:
    from redis import Redis

    from celeriac.transport.redis.keys import KeyLayout
    from celeriac.transport.redis.scripts import Scripts


def make_record(payload: bytes, queue: str, reason: str, record_id: str | None = None) -> bytes:
    """The JSON record for a set-aside message; ``id`` is the task id when one is readable."""
    text = payload.decode("utf-8", "surrogateescape")
    record = {
        "id": record_id or _task_id(payload) or uuid.uuid4().hex,
        "queue": queue,
        "reason": reason,
        "time": time.time(),
        "payload": text,
    }
    return json.dumps(record).encode("ascii")


def _task_id(payload: bytes) -> str | None:
    try:
        headers = json.loads(payload).get("headers")
        value = headers.get("id") if isinstance(headers, dict) else None
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, str) and value else None


def parse_record(raw: bytes) -> tuple[DeadLetter, dict[str, Any]]:
    """A stored record as a ``DeadLetter`` (and the parsed dict); tolerant of odd bytes."""
    try:
        record = json.loads(raw.decode("utf-8", "surrogateescape"))
    except ValueError:
        record = {"reason": "unreadable dead-letter record", "payload": ""}
    if not isinstance(record, dict):
        record = {"reason": "unreadable dead-letter record", "payload": ""}
    payload = str(record.get("payload") or "").encode("utf-8", "surrogateescape")
    letter = DeadLetter(
        id=str(record.get("id") or ""),
        queue=str(record.get("queue") or ""),
        reason=str(record.get("reason") or ""),
        set_aside_at=float(record.get("time") or 0.0),
        payload=payload,
    )
    return letter, record


def list_dead(client: Redis, layout: KeyLayout, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` set-aside messages, oldest first."""
    rows = client.lrange(layout.deadletter, 0, max(limit, 1) - 1) if limit > 0 else []
    return [parse_record(as_bytes(row))[0] for row in rows]


def requeue_dead(
    client: Redis, layout: KeyLayout, scripts: Scripts, ids: Sequence[str] | None
) -> int:
    """Put records (all, or those whose id is in ``ids``) back on their queue, atomically each."""
    wanted = None if ids is None else set(ids)
    args: list[bytes | str] = []
    for row in client.lrange(layout.deadletter, 0, -1):
        letter, _ = parse_record(as_bytes(row))
        if wanted is not None and letter.id not in wanted:
            continue
        queue = letter.queue or _routing_key(letter.payload)
        if not queue:
            continue
        args += [row, layout.bucket(queue, _priority(letter.payload)), letter.payload]
    if not args:
        return 0
    return int(scripts.requeue_dead(keys=[layout.deadletter], args=args))


def purge_dead(client: Redis, layout: KeyLayout) -> int:
    """Delete every record; returns how many there were."""
    pipe = client.pipeline(transaction=True)
    pipe.llen(layout.deadletter)
    pipe.delete(layout.deadletter)
    count, _ = pipe.execute()
    return int(count)


def _parse(payload: bytes) -> dict[str, Any]:
    try:
        env = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return env if isinstance(env, dict) else {}


def _routing_key(payload: bytes) -> str:
    props = _parse(payload).get("properties")
    info = props.get("delivery_info") if isinstance(props, dict) else None
    key = info.get("routing_key") if isinstance(info, dict) else None
    return key if isinstance(key, str) else ""


def _priority(payload: bytes) -> int:
    props = _parse(payload).get("properties")
    return envelope_priority(props) if isinstance(props, dict) else 0


__all__ = ["list_dead", "make_record", "parse_record", "purge_dead", "requeue_dead"]


class DeadLetterMethods:
    """The dead-letter side of ``RedisChannel`` (list, requeue, purge).

    Each is one attempt (redis-py still retries a stale connection): these are a user's
    commands (``celeriac deadletter``), which must fail with a sentence at once when the
    server is down, not wait through ``broker_connection_max_retries``.
    """

    client: Redis
    layout: KeyLayout
    scripts: Any
    _call: Callable[..., Any]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        found: list[DeadLetter] = self._call(
            lambda: list_dead(self.client, self.layout, limit), "list dead letters", retry=False)
        return found

    def requeue_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        return int(self._call(lambda: requeue_dead(self.client, self.layout, self.scripts, ids),
                              "requeue dead letters", retry=False))

    def purge_dead_letters(self) -> int:
        return int(self._call(lambda: purge_dead(self.client, self.layout),
                              "purge dead letters", retry=False))

