"""RabbitMQ broker transport (AMQP 0-9-1 over py-amqp), wire-compatible with Celery's
``pyamqp://`` (wire-protocol.md §3). See ``channel.py`` for the guarantees and ``topology.py``
for what is declared, dead letters and the delay buckets behind ETA tasks.
"""

from __future__ import annotations

from celeriac.transport.amqp.channel import AmqpChannel
from celeriac.transport.amqp.transport import AmqpTransport

__all__ = ["AmqpChannel", "AmqpTransport"]
