"""Routing entities (kombu-compatible ``Exchange``/``Queue``) and exchange-type matching.

``entities`` holds the value objects users write in ``task_queues``; ``emulation`` decides which
bindings a routing key reaches, as RabbitMQ does, so brokers without native exchanges (Redis,
SQLite) route a topic or fanout message to the same queues RabbitMQ would.
"""

from __future__ import annotations

from celeriac.routing.emulation import kombu_topic_matches, matches, route
from celeriac.routing.entities import EXCHANGE_TYPES, Binding, Exchange, Queue

__all__ = [
    "EXCHANGE_TYPES",
    "Binding",
    "Exchange",
    "Queue",
    "kombu_topic_matches",
    "matches",
    "route",
]
