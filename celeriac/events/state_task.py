"""One task as a monitor sees it through its events (Celery's ``celery.events.state.Task``).

Events arrive out of order: ``task-succeeded`` and ``task-received`` are sent by different
threads, batched (``task.multi``) and, on Redis, carried by PUB/SUB with no ordering promise
between publishers. The state therefore only moves *forward* by Celery's precedence
(``celeriac.states.precedence``): an event whose state logically comes before the current
one (``received`` after ``succeeded``) does not regress it; it only contributes the fields
that state is the authority on (``merge_rules``: name, args... from ``task-received``).
RETRY is the exception both ways, as in Celery: a retried task goes back to an earlier state.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from celeriac import states

if TYPE_CHECKING:
    from celeriac.events.state import State
    from celeriac.events.state_worker import Worker

#: Task event subject (``task-<subject>``) to the state it means.
TASK_EVENT_TO_STATE: dict[str, str] = {
    "sent": states.PENDING,
    "received": states.RECEIVED,
    "started": states.STARTED,
    "failed": states.FAILURE,
    "retried": states.RETRY,
    "succeeded": states.SUCCESS,
    "revoked": states.REVOKED,
    "rejected": states.REJECTED,
}


class Task:
    """A task's fields as its events told them; attributes are None until an event says."""

    name: str | None = None
    state: str = states.PENDING
    clock: int = 0
    # One timestamp per event subject (``task.succeeded`` = when task-succeeded was sent).
    sent: float | None = None
    received: float | None = None
    started: float | None = None
    succeeded: float | None = None
    failed: float | None = None
    retried: float | None = None
    revoked: float | None = None
    rejected: float | None = None
    args: str | None = None
    kwargs: str | None = None
    eta: str | None = None
    expires: str | None = None
    retries: int | None = None
    worker: Worker | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    timestamp: float | None = None
    runtime: float | None = None
    exchange: str | None = None
    routing_key: str | None = None
    client: str | None = None
    root_id: str | None = None
    parent_id: str | None = None

    #: Out-of-order merging: fields an earlier-ranked state is the authority on.
    merge_rules: ClassVar[dict[str, tuple[str, ...]]] = {
        states.RECEIVED: ("name", "args", "kwargs", "parent_id", "root_id", "retries", "eta",
                          "expires"),
    }

    _fields = ("uuid", "name", "state", "received", "sent", "started", "rejected",
               "succeeded", "failed", "retried", "revoked", "args", "kwargs", "eta", "expires",
               "retries", "worker", "result", "exception", "timestamp", "runtime", "traceback",
               "exchange", "routing_key", "clock", "client", "root", "root_id", "parent",
               "parent_id", "children")

    #: What ``info()`` shows by default.
    _info_fields = ("args", "kwargs", "retries", "result", "eta", "runtime", "expires",
                    "exception", "exchange", "routing_key", "root_id", "parent_id")

    def __init__(self, uuid: str | None = None, cluster_state: State | None = None,
                 children: Iterable[str] | None = None, **fields: Any) -> None:
        self.uuid = uuid
        self.cluster_state = cluster_state
        self.children: weakref.WeakSet[Task] = weakref.WeakSet()
        if cluster_state is not None:
            known = cluster_state.tasks.data
            self.children.update(known[i] for i in children or () if i in known)
        if fields:
            self.__dict__.update(fields)

    def event(self, type_: str, timestamp: float | None = None,
              local_received: float | None = None,
              fields: Mapping[str, Any] | None = None) -> None:
        """Apply ``task-<type_>``: record its timestamp, then its fields if it is not stale."""
        update = dict(fields or {})
        state = TASK_EVENT_TO_STATE.get(type_)
        if state is not None:
            setattr(self, type_, timestamp)
        else:
            state = type_.upper()  # a custom event: its own state, ranked as unknown
        if (state != states.RETRY and self.state != states.RETRY
                and states.precedence(state) > states.precedence(self.state)):
            # This event happened before the current state: merge, never regress.
            keep = self.merge_rules.get(state)
            if keep is not None:
                update = {key: value for key, value in update.items() if key in keep}
            # Celery keeps every field of a stale event without a merge rule too.
        else:
            update.update(state=state, timestamp=timestamp)
        self.__dict__.update(update)

    @property
    def id(self) -> str | None:
        return self.uuid

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES

    @property
    def origin(self) -> str | None:
        """The client that sent it, until a worker took it; then that worker's id."""
        return self.client if self.worker is None else self.worker.id

    @property
    def parent(self) -> Task | None:
        return self._known(self.parent_id)

    @property
    def root(self) -> Task | None:
        return self._known(self.root_id)

    def _known(self, task_id: str | None) -> Task | None:
        if not task_id or self.cluster_state is None:
            return None
        return self.cluster_state.tasks.data.get(task_id)

    def info(self, fields: Iterable[str] | None = None,
             extra: Iterable[str] = ()) -> dict[str, Any]:
        """The set fields among ``fields`` (default ``_info_fields``) and ``extra``."""
        names = [*(self._info_fields if fields is None else fields), *extra]
        return {name: value for name in names
                if (value := getattr(self, name, None)) is not None}

    def as_dict(self) -> dict[str, Any]:
        """Every field, with parent/root/children as task ids (serializable)."""
        out: dict[str, Any] = {key: getattr(self, key, None) for key in self._fields}
        out["children"] = [task.uuid for task in self.children]
        out["root"] = self.root_id
        out["parent"] = self.parent_id
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Task):
            return self.uuid == other.uuid
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_task, (self.__class__, self.as_dict())

    def __repr__(self) -> str:
        return f"<Task: {self.name}({self.uuid}) {self.state} clock:{self.clock}>"


def _rebuild_task(cls: type[Task], fields: dict[str, Any]) -> Task:
    fields = {k: v for k, v in fields.items() if k not in ("root", "parent")}
    return cls(**fields)


__all__ = ["TASK_EVENT_TO_STATE", "Task"]
