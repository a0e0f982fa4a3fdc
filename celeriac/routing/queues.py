"""``QueueSet``: the app's task queues built from settings, as Celery's ``app.amqp.queues``.

The same rules as Celery's ``Queues`` apply, so a configuration means the same thing to a
Celery process and a celeriac one:

* ``task_queues`` (``CELERY_QUEUES``) is a sequence of ``Queue`` or a dict of dicts
  (``{'name': {'exchange': ..., 'exchange_type': ..., 'routing_key'/'binding_key': ...}}``).
  When it is empty the set holds only ``task_default_queue``, bound to the default exchange
  (``task_default_exchange``, type ``task_default_exchange_type``) with
  ``task_default_routing_key``; ``task_default_queue_type='quorum'`` makes it a quorum queue.
* A queue without an exchange (or with the nameless one) gets the default exchange, and one
  without a binding key gets ``task_default_routing_key``; ``task_queue_max_priority`` adds
  ``x-max-priority`` where a queue sets none.
* A name not in the set is created on lookup (exchange and binding key = the name, type
  ``task_create_missing_queue_exchange_type`` or direct, ``task_create_missing_queue_type``)
  unless ``task_create_missing_queues`` is off, then lookup raises ``QueueNotFound``.

Transports receive the queues through ``TransportOptions.task_queues`` so that a
worker's ``declare(['web_tasks'])`` declares the user's exchange and bindings, and brokers
without native exchanges know each exchange's type (``transport/emulation.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from celeriac.exceptions import ImproperlyConfigured, QueueNotFound
from celeriac.routing.entities import Exchange, Queue


def _setting(conf: Any, name: str, default: Any = None) -> Any:
    getter = getattr(conf, "get", None)
    value = getter(name) if callable(getter) else getattr(conf, name, None)
    return default if value is None else value


class QueueSet(Mapping[str, Queue]):
    """Queue name -> ``Queue``; unknown names are created unless ``create_missing`` is off.

    Not thread-safe for concurrent creation of *new* missing queues; the result of a race is
    two equal entities, one of which wins, which is harmless.
    """

    def __init__(
        self,
        queues: Any = None,
        *,
        default_queue: str = "celery",
        default_exchange: Exchange | None = None,
        default_routing_key: str | None = None,
        create_missing: bool = True,
        missing_queue_type: str | None = None,
        missing_exchange_type: str | None = None,
        max_priority: int | None = None,
        default_queue_type: str | None = None,
    ) -> None:
        self.default_queue_name = default_queue
        self.default_exchange = default_exchange or Exchange(default_queue)
        self.default_routing_key = default_routing_key or default_queue
        self.create_missing = create_missing
        self.missing_queue_type = missing_queue_type
        self.missing_exchange_type = missing_exchange_type
        self.max_priority = max_priority
        self._queues: dict[str, Queue] = {}
        self.aliases: dict[str, str] = {}
        entries = _entries(queues)
        if not entries and default_queue:
            arguments = {"x-queue-type": "quorum"} if default_queue_type == "quorum" else None
            entries = [
                Queue(
                    default_queue,
                    self.default_exchange,
                    self.default_routing_key,
                    queue_arguments=arguments,
                )
            ]
        for entry in entries:
            self.add(entry)
        #: What a worker consumes when no ``-Q`` is given: every configured queue.
        self.configured: tuple[str, ...] = tuple(self._queues)

    # -- Mapping --------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Queue:
        name = self.aliases.get(name, name)
        queue = self._queues.get(name)
        if queue is not None:
            return queue
        if not self.create_missing:
            raise QueueNotFound(
                f"Queue {name!r} missing from task_queues (task_create_missing_queues is off): "
                f"add it to task_queues or route to one of {sorted(self._queues)}."
            )
        return self.add(self.new_missing(name))

    def __contains__(self, name: object) -> bool:
        return name in self._queues or name in self.aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)

    # -- building -------------------------------------------------------------------------------
    def add(self, queue: Queue) -> Queue:
        """Add ``queue`` with Celery's defaults filled in; returns the stored entity."""
        exchange = queue.exchange_entity
        if (exchange is None or exchange.is_default) and not queue.bindings:
            queue = replace(queue, exchange=self.default_exchange)
        if not queue.routing_key:
            queue = replace(queue, routing_key=self.default_routing_key)
        if self.max_priority is not None and queue.max_priority is None:
            arguments = dict(queue.queue_arguments or {})
            if "x-max-priority" not in arguments:
                arguments["x-max-priority"] = self.max_priority
                queue = replace(queue, queue_arguments=arguments)
        self._queues[queue.name] = queue
        if queue.alias:
            self.aliases[queue.alias] = queue.name
        return queue

    def new_missing(self, name: str) -> Queue:
        """Celery's ``Queues.new_missing``: exchange and binding key named after the queue."""
        arguments = None
        kind = self.missing_queue_type
        if kind and kind != "classic":
            if kind != "quorum":
                raise ImproperlyConfigured(
                    f"task_create_missing_queue_type {kind!r} is not 'classic' or 'quorum'."
                )
            arguments = {"x-queue-type": "quorum"}
        exchange = Exchange(name, type=self.missing_exchange_type or "direct")
        return Queue(name, exchange, name, queue_arguments=arguments)

    @property
    def default_queue(self) -> Queue:
        return self[self.default_queue_name]

    def exchange_types(self) -> dict[str, str]:
        """Exchange name -> type, for every exchange a known queue is bound to."""
        types: dict[str, str] = {}
        for queue in self._queues.values():
            for binding in queue.all_bindings():
                types.setdefault(binding.exchange.name, binding.exchange.type)
        return types


def _entries(queues: Any) -> list[Queue]:
    """``task_queues`` as a list of ``Queue`` (sequence of Queue, or Celery's dict of dicts)."""
    if not queues:
        return []
    if isinstance(queues, Mapping):
        out = []
        for name, options in queues.items():
            if isinstance(options, Queue):
                out.append(options)
                continue
            spec = dict(options or {})
            spec.setdefault("routing_key", spec.get("binding_key"))
            if spec["routing_key"] is None:
                spec["routing_key"] = name
            out.append(Queue.from_dict(str(name), spec))
        return out
    out = []
    for item in queues:
        if not isinstance(item, Queue):
            raise ImproperlyConfigured(
                f"task_queues holds {item!r}; use celeriac.Queue(...) entries or a dict of dicts."
            )
        out.append(item)
    return out


def queue_set(conf: Any) -> QueueSet:
    """The ``QueueSet`` of a settings object (``app.conf`` or any mapping of settings)."""
    default_queue = str(_setting(conf, "task_default_queue", "celery"))
    exchange_name = str(_setting(conf, "task_default_exchange", default_queue))
    exchange_type = str(_setting(conf, "task_default_exchange_type", "direct"))
    priority = _setting(conf, "task_queue_max_priority")
    return QueueSet(
        _setting(conf, "task_queues"),
        default_queue=default_queue,
        default_exchange=Exchange(exchange_name, type=exchange_type),
        default_routing_key=str(_setting(conf, "task_default_routing_key", default_queue)),
        create_missing=bool(_setting(conf, "task_create_missing_queues", True)),
        missing_queue_type=_setting(conf, "task_create_missing_queue_type"),
        missing_exchange_type=_setting(conf, "task_create_missing_queue_exchange_type"),
        max_priority=int(priority) if priority is not None else None,
        default_queue_type=_setting(conf, "task_default_queue_type"),
    )


__all__ = ["QueueSet", "queue_set"]
