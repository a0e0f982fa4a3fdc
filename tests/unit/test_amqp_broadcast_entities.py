"""What the RabbitMQ channel declares for each broadcast exchange and subscriber
(``celeriac/transport/amqp/fanout.py``, wire-protocol.md §3.1), the settings that reach it, and
the error a broker without broadcast gives."""

from __future__ import annotations

import pytest

from celeriac.config.frozen import BroadcastOptions
from celeriac.config.options import transport_options
from celeriac.config.settings import Settings
from celeriac.control.mailbox import Mailbox, node_queue_name
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.amqp.fanout import BroadcastEntities


def test_celerys_default_entities() -> None:
    entities = BroadcastEntities(BroadcastOptions())
    pidbox = entities.exchange("celery.pidbox")
    assert (pidbox.type, pidbox.durable) == ("fanout", False)
    reply = entities.exchange("reply.celery.pidbox")
    assert (reply.type, reply.durable) == ("direct", False)
    events = entities.exchange("celeryev")
    assert (events.type, events.durable, events.auto_delete) == ("topic", True, False)

    node = entities.subscriber_queue("celery.pidbox", "#", node_queue_name("w1@h"))
    assert node.name == "w1@h.celery.pidbox" and node.routing_key == ""
    assert (node.durable, node.exclusive, node.auto_delete) == (False, True, True)
    assert node.declare_arguments() == {"x-message-ttl": 300000, "x-expires": 10000}

    replies = entities.reply_queue("reply.celery.pidbox", "oid", "oid.reply.celery.pidbox")
    assert replies.routing_key == "oid" and replies.exclusive and replies.auto_delete
    assert replies.declare_arguments() == {"x-message-ttl": 300000, "x-expires": 10000}

    monitor = entities.subscriber_queue("celeryev", "worker.#")
    assert monitor.name.startswith("celeryev.") and monitor.routing_key == "worker.#"
    assert (monitor.durable, monitor.exclusive, monitor.auto_delete) == (False, True, True)
    assert monitor.declare_arguments() == {"x-message-ttl": 5000, "x-expires": 60000}


def test_settings_reach_the_entities() -> None:
    conf = Settings({"broker_url": "amqp://h//", "control_queue_ttl": 1.5,
                     "control_queue_expires": 20, "event_queue_ttl": 7,
                     "event_queue_expires": 30, "event_queue_prefix": "mon",
                     "event_queue_exclusive": False, "event_queue_durable": True})
    entities = BroadcastEntities(transport_options(conf).broadcast)
    node = entities.subscriber_queue("celery.pidbox", "#", "n.celery.pidbox")
    assert node.declare_arguments() == {"x-message-ttl": 1500, "x-expires": 20000}
    monitor = entities.subscriber_queue("celeryev", "#")
    assert monitor.name.startswith("mon.")
    assert (monitor.durable, monitor.exclusive, monitor.auto_delete) == (True, False, False)
    assert monitor.declare_arguments() == {"x-message-ttl": 7000, "x-expires": 30000}


def test_an_exclusive_durable_event_queue_is_refused_as_in_celery() -> None:
    entities = BroadcastEntities(BroadcastOptions(event_queue_durable=True))
    with pytest.raises(ImproperlyConfigured, match="cannot both be True"):
        entities.subscriber_queue("celeryev", "#")


class _NoBroadcast:
    def close(self) -> None:
        return None


def test_a_broker_without_broadcast_says_so() -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        Mailbox(_NoBroadcast(), "oid", broker="sqs://")  # type: ignore[arg-type]
    message = str(raised.value)
    assert "not available on the sqs:// broker" in message and "no broadcast" in message
    assert "RabbitMQ (amqp://" in message and "not implemented yet" not in message
