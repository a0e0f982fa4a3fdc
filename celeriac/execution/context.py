"""``Task.request``: what a running task knows about the message that started it."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final

#: The protocol's own headers (wire-protocol.md §1.2). Only the others are the user's
#: ``apply_async(headers=...)`` and travel on with a retry, as Celery's
#: ``Context._get_custom_headers`` does; re-sending these would reset ``retries``.
STANDARD_HEADERS: Final = frozenset({
    "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
    "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
    "replaced_task_nesting", "stamped_headers", "stamps", "compression", "redelivered", "meth",
})


def custom_headers(headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """The user's own headers among a message's headers (None when there are none)."""
    if not headers:
        return None
    custom = {key: value for key, value in headers.items() if key not in STANDARD_HEADERS}
    return custom or None


@dataclass(slots=True)
class Context:
    """The executing task's request, as Celery's ``Task.request``.

    Attribute names follow Celery's so ``self.request.id`` / ``.retries`` / ``.delivery_info``
    port unchanged. ``called_directly`` is true when the task function was simply called.
    """

    id: str | None = None
    task: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    eta: str | None = None
    expires: str | None = None
    is_eager: bool = False
    headers: dict[str, Any] | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    correlation_id: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    chord: Any = None
    chain: list[Any] | None = None
    callbacks: list[Any] | None = None
    errbacks: list[Any] | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    origin: str | None = None
    hostname: str | None = None
    #: Celery's request fields for an eager call's ``apply(logfile=, loglevel=)``.
    logfile: str | None = None
    loglevel: int | None = None
    ignore_result: bool = False
    priority: int | None = None
    shadow: str | None = None
    called_directly: bool = True
    stamps: dict[str, Any] = field(default_factory=dict)
    #: The message's properties (``reply_to``, ``correlation_id``, ``priority``...).
    properties: dict[str, Any] | None = None
    _protected: int = 0
    #: Results of the tasks sent while this request ran (``Task.trail``); see ``children``.
    _children: list[Any] | None = None

    # Celery's request has ``time_limit``/``soft_time_limit`` beside the ``timelimit`` pair
    # they are read from; properties here, so a request costs nothing more to build.
    @property
    def time_limit(self) -> float | None:
        return self.timelimit[0]

    @time_limit.setter
    def time_limit(self, value: float | None) -> None:
        self.timelimit = (value, self.timelimit[1])

    @property
    def soft_time_limit(self) -> float | None:
        return self.timelimit[1]

    @soft_time_limit.setter
    def soft_time_limit(self, value: float | None) -> None:
        self.timelimit = (self.timelimit[0], value)

    @property
    def replaced_task_nesting(self) -> int:
        """How many ``Task.replace`` calls led to this request (its message header)."""
        return int((self.headers or {}).get("replaced_task_nesting") or 0)

    @replaced_task_nesting.setter
    def replaced_task_nesting(self, value: int) -> None:
        self.headers = {**(self.headers or {}), "replaced_task_nesting": value}

    @property
    def stamped_headers(self) -> list[str] | None:
        """The names of the stamps this request carries (its message header)."""
        return (self.headers or {}).get("stamped_headers")

    # Celery's request keeps these legacy fields, always None in a worker; properties here,
    # so a request costs nothing more to build. (``logfile``/``loglevel`` are fields: an
    # eager call sets them, as Celery's ``apply(logfile=, loglevel=)``.)
    @property
    def utc(self) -> None:
        return None

    @property
    def taskset(self) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set fields from a mapping or keywords, as Celery's ``Context.update``."""
        for key, value in dict(*args, **kwargs).items():
            setattr(self, key, value)

    def clear(self) -> None:
        """Reset every field to its default, as Celery's ``Context.clear`` empties it."""
        for spec in fields(self):
            default = (spec.default_factory() if spec.default_factory is not MISSING
                       else spec.default)
            setattr(self, spec.name, default)

    @property
    def children(self) -> list[Any]:
        """The results of the tasks this request sent (``Task.trail``), made on first use."""
        if self._children is None:
            self._children = []
        return self._children

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute

        def __getattr__(self, name: str) -> Any:
            """A message header by attribute, as Celery's request offers every header.

            Tracing integrations read the context they injected in ``before_task_publish``
            this way (``task.request.traceparent``). Only called for names that are not
            fields, so the fields cost nothing extra.
            """
            if not name.startswith("_"):
                try:
                    headers = object.__getattribute__(self, "headers")
                except AttributeError:  # a copy being rebuilt: its slots are not set yet
                    headers = None
                if headers and name in headers:
                    return headers[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def as_execution_options(self) -> dict[str, Any]:
        """Options that a retry of this request must keep (queue, priority, time limits...)."""
        hard, soft = self.timelimit
        options: dict[str, Any] = {
            "task_id": self.id,
            "time_limit": hard,
            "soft_time_limit": soft,
            "root_id": self.root_id,
            "parent_id": self.parent_id,
            "group_id": self.group,
            "group_index": self.group_index,
            "shadow": self.shadow,
            "chord": self.chord,
            "chain": self.chain,
            "link": self.callbacks,
            "link_error": self.errbacks,
            "expires": self.expires,
            "priority": self.priority,
            "headers": custom_headers(self.headers),
            "reply_to": self.reply_to,
            "replaced_task_nesting": self.replaced_task_nesting,
        }
        stamped = (self.headers or {}).get("stamped_headers")
        if stamped and self.stamps:  # a retry keeps its stamps (Celery)
            options.update({k: v for k, v in self.stamps.items() if k in stamped},
                           stamped_headers=stamped)
        routing_key = self.delivery_info.get("routing_key")
        if routing_key:
            options["routing_key"] = routing_key
            options["queue"] = routing_key
        return options
