"""The transport-neutral task message: what every broker carries and every worker reads.

A ``TaskMessage`` is the decoded *envelope* (headers, properties, content type and the still
encoded body bytes). Transports translate it to and from their own framing (kombu's JSON
envelope on Redis and SQLite, AMQP basic properties on RabbitMQ); ``task_message.py`` builds
and parses the Celery fields inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One message as Celery protocol v2 lays it out (wire-protocol.md §1.1).

    ``headers`` are the Celery metadata (``task``, ``id``, ``eta`` ...), ``properties`` the
    AMQP-style basic properties (``correlation_id``, ``reply_to``, ``priority``,
    ``delivery_mode``...). ``body`` is the serialized (and possibly compressed) payload exactly as
    it travels; decoding it is the worker's job so that a refused content type is never parsed.
    """

    headers: dict[str, Any]
    properties: dict[str, Any]
    body: bytes
    content_type: str = "application/json"
    content_encoding: str = "utf-8"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str | None:
        value = self.headers.get("id")
        return value if isinstance(value, str) else None

    @property
    def task_name(self) -> str | None:
        value = self.headers.get("task")
        return value if isinstance(value, str) else None
