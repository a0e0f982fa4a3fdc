"""``AmqpTransport``: RabbitMQ for ``amqp://``, ``pyamqp://`` and ``amqps://`` URLs."""

from __future__ import annotations

from typing import Self

from celeriac.clients.amqp import AmqpParams, parse_url
from celeriac.config.frozen import TransportOptions
from celeriac.transport.amqp.channel import AmqpChannel
from celeriac.transport.amqp.topology import Topology
from celeriac.transport.base import Capabilities
from celeriac.transport.open_channels import OpenChannels


class AmqpTransport:
    """Opens ``AmqpChannel``s; each owns two connections (publishing and consuming).

    ``options.amqp`` (``AmqpTransportOptions``: ``broker_transport_options`` plus what the
    app maps in) holds:
    ``use_ssl`` (``broker_use_ssl``), ``heartbeat`` (``broker_heartbeat``),
    ``queue_max_priority`` (``task_queue_max_priority``), ``default_queue_type``
    (``task_default_queue_type``), ``queue_arguments`` (``{queue: {argument: value}}``),
    ``prefetch_count`` (fixed QoS; otherwise the largest ``fetch`` limit),
    ``publish_retry_policy`` (``task_publish_retry_policy``), ``confirm_timeout`` (30 s) and
    ``client_properties``.
    """

    capabilities = Capabilities(delayed_delivery=True, native_routing=True, pushes=True,
                                retries_publish=True)

    def __init__(self, params: AmqpParams, options: TransportOptions) -> None:
        self.params = params
        self.options = options
        self.topology = Topology(options.amqp, options.task_queues)
        self._open: OpenChannels[AmqpChannel] = OpenChannels()

    @classmethod
    def from_url(cls, url: str, options: TransportOptions) -> Self:
        return cls(parse_url(url, options.amqp, options.connect_timeout), options)

    def channel(self) -> AmqpChannel:
        return self._open.add(AmqpChannel(self.params, self.options, self.topology))

    def close(self) -> None:
        self._open.close_all()

    def __repr__(self) -> str:
        return f"<AmqpTransport {self.params.redacted()}>"


__all__ = ["AmqpTransport"]
