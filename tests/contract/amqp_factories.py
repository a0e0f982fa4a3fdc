"""The RabbitMQ entry of the fanout contract (``test_fanout_contract.py``).

Only the fanout contract runs on RabbitMQ here (its queue contract has its own tests in
``tests/integration/test_amqp_transport.py``). Each test's ``namespace`` becomes a throw-away
vhost (``tests/integration/amqp_vhost.py``); transports of one test share it and the vhost is
deleted when they close.
"""

from __future__ import annotations

from typing import Any

from celeriac.transport.amqp import AmqpTransport
from tests.integration.amqp_vhost import Vhost, _require_rabbitmqctl, rabbitmqctl

#: Vhosts made by this process and not deleted yet -> transports open on each (every
#: rabbitmqctl call costs ~0.6 s, so one call makes a vhost and the last close deletes it).
_live: dict[str, int] = {}


def _add_vhost(name: str) -> None:
    """``add_vhost`` and guest's permissions in one ``rabbitmqctl eval``."""
    quoted = f'<<"{name}">>'
    rabbitmqctl("eval", f'ok = rabbit_vhost:add({quoted}, <<"celeriac-test">>), '
                f'rabbit_auth_backend_internal:set_permissions(<<"guest">>, {quoted}, '
                '<<".*">>, <<".*">>, <<".*">>, <<"celeriac-test">>).')
    _live[name] = 0


class _VhostTransport(AmqpTransport):
    """An AmqpTransport that deletes its test vhost when closed (once per vhost)."""

    vhost: Vhost

    def close(self) -> None:
        try:
            super().close()
        finally:
            _live[self.vhost.name] -= 1
            if _live[self.vhost.name] <= 0:
                del _live[self.vhost.name]
                rabbitmqctl("delete_vhost", self.vhost.name, check=False)


def amqp_transport(env: Any) -> AmqpTransport:
    """Contract factory: ``env`` is the conftest's ``ContractEnv``."""
    _require_rabbitmqctl()
    vhost = Vhost(f"celeriac_test_{env.namespace}")
    if vhost.name not in _live:
        _add_vhost(vhost.name)
    transport = _VhostTransport.from_url(vhost.url, env.transport_options)
    transport.vhost = vhost
    _live[vhost.name] += 1
    return transport


FANOUT_FACTORIES = {"amqp": amqp_transport}
