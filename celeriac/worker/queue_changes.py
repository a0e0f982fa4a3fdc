"""``add_consumer`` / ``cancel_consumer``: change the queues a running worker consumes.

As Celery's ``Consumer.add_task_queue``: a queue the app knows (``task_queues``) is used as
configured; another is made from the command's arguments (exchange and routing key default to
the queue's name, exchange type to ``direct``). It is declared on the broker before the worker
fetches from it, so a message routed to it right after the reply is not lost; the fetch side
then reads the new queue list from its next fetch on (``Consumer.set_queues``). AMQP declares
the exchange and binding; Redis and SQLite record the binding for their exchange emulation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celeriac.routing.entities import Queue
from celeriac.routing.queues import queue_set
from celeriac.transport.emulation import ExchangeTable

if TYPE_CHECKING:
    from celeriac.transport.base import Channel
    from celeriac.worker.consumer import Consumer

logger = logging.getLogger(__name__)


def queue_entity(conf: Any, name: str, exchange: str | None, exchange_type: str | None,
                 routing_key: str | None, options: Mapping[str, Any]) -> Queue:
    """The configured queue ``name``, else one built from the arguments (Celery's rules)."""
    known = queue_set(conf)
    if name in known:
        return known[name]
    return Queue.from_dict(name, {**options, "exchange": name if exchange is None else exchange,
                                  "exchange_type": exchange_type or "direct",
                                  "routing_key": routing_key or name})


def declare_queue(channel: Channel, queue: Queue) -> None:
    """Declare ``queue`` with its exchange and bindings on whichever broker ``channel`` is."""
    declare_entities = getattr(channel, "declare_entities", None)
    if callable(declare_entities):  # AMQP: exchanges and bindings live on the broker
        declare_entities([queue])
        return
    exchanges = getattr(channel, "exchanges", None)
    if isinstance(exchanges, ExchangeTable):  # emulated exchanges (Redis, SQLite, memory)
        exchanges.add(queue)
    channel.declare([queue.name])


def add_consumer(conf: Any, consumer: Consumer, name: str, exchange: str | None = None,
                 exchange_type: str | None = None, routing_key: str | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
    """Declare queue ``name`` and fetch from it too (nothing changes if already consumed)."""
    if not name:
        raise ValueError("add_consumer needs a queue name")
    if name in consumer.queues:
        return
    declare_queue(consumer.channel,
                  queue_entity(conf, name, exchange, exchange_type, routing_key, options or {}))
    consumer.set_queues([*consumer.queues, name])
    logger.info("Started consuming from %s", name)


def cancel_consumer(consumer: Consumer, name: str) -> None:
    """Stop fetching from ``name``; messages already fetched from it still run."""
    logger.info("Canceling queue %s", name)
    consumer.set_queues([queue for queue in consumer.queues if queue != name])


__all__ = ["add_consumer", "cancel_consumer", "declare_queue", "queue_entity"]
