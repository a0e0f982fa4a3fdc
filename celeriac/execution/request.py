"""``Request``: a leased message the worker has decided to run; cheap to build (slots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celeriac.execution.context import Context
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import TaskBody
from celeriac.transport.base import Delivery


@dataclass(slots=True)
class Request:
    """A task ready to execute. ``body`` is decoded once by the dispatcher; a prefork child
    receives the raw message and decodes it again itself (only our own types cross the pipe).
    """

    delivery: Delivery
    task_name: str
    task_id: str
    body: TaskBody | None
    hostname: str
    acks_late: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, Any]:
        return self.delivery.message.headers

    # Celery's ``Request`` attribute names, for ``task_received`` receivers.
    @property
    def id(self) -> str:
        return self.task_id

    @property
    def name(self) -> str:
        return self.task_name

    @property
    def message(self) -> TaskMessage:
        return self.delivery.message

    @property
    def args(self) -> list[Any]:
        return self.body.args if self.body is not None else []

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.body.kwargs if self.body is not None else {}

    @property
    def eta(self) -> str | None:
        value = self.headers.get("eta")
        return value if isinstance(value, str) else None

    @property
    def expires(self) -> str | None:
        value = self.headers.get("expires")
        return value if isinstance(value, str) else None

    def context(self, body: TaskBody) -> Context:
        """The ``Task.request`` seen by the running task (Celery's attribute names)."""
        headers = self.delivery.message.headers
        properties = self.delivery.message.properties
        timelimit = headers.get("timelimit") or (None, None)
        return Context(
            id=self.task_id,
            task=self.task_name,
            args=body.args,
            kwargs=body.kwargs,
            retries=int(headers.get("retries") or 0),
            eta=headers.get("eta"),
            expires=headers.get("expires"),
            headers=headers,
            delivery_info={
                "exchange": properties.get("delivery_info", {}).get("exchange", ""),
                "routing_key": self.delivery.queue,
                "priority": properties.get("priority"),
                "redelivered": self.delivery.redelivered,
            },
            reply_to=properties.get("reply_to"),
            correlation_id=properties.get("correlation_id"),
            root_id=headers.get("root_id"),
            parent_id=headers.get("parent_id"),
            group=headers.get("group"),
            group_index=headers.get("group_index"),
            chord=body.chord,
            chain=body.chain,
            callbacks=body.callbacks,
            errbacks=body.errbacks,
            timelimit=(timelimit[0], timelimit[1]),
            origin=headers.get("origin"),
            hostname=self.hostname,
            ignore_result=bool(headers.get("ignore_result")),
            priority=properties.get("priority"),
            shadow=headers.get("shadow"),
            called_directly=False,
            stamps=headers.get("stamps") or {},
            properties=properties,
        )
