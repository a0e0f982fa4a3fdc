"""``Exchange``, ``Queue`` and ``Binding``: kombu-compatible routing declarations as frozen values.

Users write ``Queue('web_tasks', Exchange('tasks', type='topic'), routing_key='web.#')`` in
``task_queues`` exactly as they would for Celery; the same names, defaults and argument
spellings as kombu keep that code portable. These objects only *describe* entities: a
transport declares them (RabbitMQ natively) or emulates their routing (``emulation.py``).

They are frozen so a configuration can be shared between threads and used as a cache key;
mapping fields are excluded from hashing because dicts are not hashable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from celeriac.exceptions import ImproperlyConfigured

#: Exchange types RabbitMQ offers and kombu accepts.
EXCHANGE_TYPES: Final = frozenset({"direct", "topic", "fanout", "headers"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """An exchange, kombu's ``Exchange(name, type='direct', durable=True, ...)``.

    The nameless exchange ``Exchange('')`` is AMQP's default exchange, which routes a message
    to the queue named by its routing key.
    """

    name: str = ""
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False
    delivery_mode: int | None = None
    arguments: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    internal: bool = False
    no_declare: bool = False
    passive: bool = False

    def __post_init__(self) -> None:
        if self.type not in EXCHANGE_TYPES:
            raise ImproperlyConfigured(
                f"Exchange {self.name!r} has unknown type {self.type!r}; "
                f"use one of {', '.join(sorted(EXCHANGE_TYPES))}."
            )

    @property
    def is_default(self) -> bool:
        return self.name == ""


@dataclass(frozen=True, slots=True)
class Binding:
    """One extra binding of a queue (kombu's ``binding(exchange, routing_key)``)."""

    exchange: Exchange
    routing_key: str = ""
    arguments: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue and its binding, kombu's ``Queue(name, exchange, routing_key, ...)``.

    ``routing_key`` is the *binding key* (``'web.#'`` on a topic exchange). ``exchange`` may be
    given as a name; ``None`` means "the app's default exchange", filled in by
    ``with_defaults`` as Celery's ``Queues`` does. ``expires``/``message_ttl`` are seconds and
    become RabbitMQ's millisecond ``x-expires``/``x-message-ttl`` arguments, like kombu's.
    """

    name: str
    exchange: Exchange | str | None = None
    routing_key: str = ""
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    queue_arguments: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    binding_arguments: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    consumer_arguments: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    no_ack: bool | None = None
    alias: str | None = None
    expires: float | None = None
    message_ttl: float | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    max_priority: int | None = None
    bindings: tuple[Binding, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.exchange, str):
            object.__setattr__(self, "exchange", Exchange(self.exchange))
        object.__setattr__(self, "bindings", tuple(self.bindings))

    @property
    def exchange_entity(self) -> Exchange | None:
        """``exchange`` as an ``Exchange`` (``__post_init__`` already converted names)."""
        return self.exchange if isinstance(self.exchange, Exchange) else None

    @property
    def queue_type(self) -> str:
        """``'quorum'``, ``'stream'`` or ``'classic'`` (RabbitMQ's ``x-queue-type``)."""
        return str((self.queue_arguments or {}).get("x-queue-type", "classic"))

    def declare_arguments(self) -> dict[str, Any]:
        """The ``queue.declare`` arguments, as kombu computes them from the shortcuts."""
        arguments = dict(self.queue_arguments or {})
        shortcuts = {
            "x-expires": _ms(self.expires),
            "x-message-ttl": _ms(self.message_ttl),
            "x-max-length": self.max_length,
            "x-max-length-bytes": self.max_length_bytes,
            "x-max-priority": self.max_priority,
        }
        arguments.update((key, value) for key, value in shortcuts.items() if value is not None)
        return arguments

    def all_bindings(self) -> list[Binding]:
        """The main binding (when the queue has a named exchange) followed by ``bindings``."""
        main: list[Binding] = []
        exchange = self.exchange_entity
        if exchange is not None and not exchange.is_default:
            main.append(Binding(exchange, self.routing_key, self.binding_arguments))
        return main + list(self.bindings)

    def with_defaults(self, exchange: Exchange, routing_key: str) -> Queue:
        """Fill a missing exchange and binding key as Celery's ``Queues._add`` does."""
        own = self.exchange_entity
        new_exchange = exchange if own is None or own.is_default else own
        return replace(self, exchange=new_exchange, routing_key=self.routing_key or routing_key)

    @classmethod
    def missing(cls, name: str, exchange_type: str = "direct") -> Queue:
        """The queue ``task_create_missing_queues`` makes: exchange and binding key = name."""
        return cls(name, Exchange(name, type=exchange_type), routing_key=name)

    @classmethod
    def from_dict(cls, name: str, options: Mapping[str, Any]) -> Queue:
        """A queue from Celery's dict form, ``{'exchange': ..., 'exchange_type': ...}``.

        ``binding_key`` wins over ``routing_key``, as in kombu's ``Queue.from_dict``.
        """
        exchange_name = options.get("exchange")
        exchange: Exchange | None = None
        if isinstance(exchange_name, Exchange):
            exchange = exchange_name
        elif exchange_name is not None:
            exchange = Exchange(
                str(exchange_name),
                type=str(options.get("exchange_type") or "direct"),
                durable=bool(options.get("exchange_durable", options.get("durable", True))),
                auto_delete=bool(
                    options.get("exchange_auto_delete", options.get("auto_delete", False))
                ),
                arguments=options.get("exchange_arguments"),
            )
        return cls(
            name,
            exchange,
            routing_key=str(options.get("binding_key") or options.get("routing_key") or ""),
            durable=bool(options.get("queue_durable", options.get("durable", True))),
            exclusive=bool(options.get("exclusive", False)),
            auto_delete=bool(options.get("queue_auto_delete", options.get("auto_delete", False))),
            queue_arguments=options.get("queue_arguments"),
            consumer_arguments=options.get("consumer_arguments"),
            no_ack=options.get("no_ack"),
            max_priority=options.get("max_priority"),
            bindings=tuple(options.get("bindings") or ()),
        )


__all__ = ["EXCHANGE_TYPES", "Binding", "Exchange", "Queue"]
