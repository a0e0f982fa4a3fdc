"""The ``rpc://`` entry of the result-store contract (``tests/contract/conftest.py`` registers it).

An rpc store is not ``general``: it keeps only the replies sent to its own client, so it runs
the tests of the capabilities it declares (store-if-not-final), each store in a RabbitMQ vhost
of its own. The store under test is its own client: ``store`` sends each record to its reply
queue and a marker behind them, then waits for the marker; replies arrive in order on one
queue, so a ``get`` right after sees every record, judged as the client judges them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from celeriac import states
from celeriac.backends.rpc import RpcBackend
from celeriac.protocol.result_meta import ResultMeta
from tests.integration.amqp_vhost import rabbitmq_vhost

_MARKER_WAIT = 20.0


class SelfReplyingRpc(RpcBackend):
    """An rpc store reading its own replies; ``close`` deletes its vhost."""

    vhost_exit: ExitStack | None = None

    def store(self, metas: Sequence[ResultMeta]) -> None:
        marker = ResultMeta(f"marker-{uuid.uuid4().hex}", states.SUCCESS, None)
        self.on_task_call(marker.task_id)
        self.store_replies([(self.oid, meta) for meta in (*metas, marker)])
        self.wait(marker.task_id, timeout=_MARKER_WAIT)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.vhost_exit is not None:
                self.vhost_exit.close()


def rpc_backend(env: Any) -> RpcBackend:
    """Contract factory: ``env`` is the conftest's ``ContractEnv``."""
    with ExitStack() as stack:
        vhost = stack.enter_context(rabbitmq_vhost("contract"))
        store = SelfReplyingRpc.from_url("rpc://", env.backend_options, broker_url=vhost.url)
        store.vhost_exit = stack.pop_all()
    return store


#: kind -> (store class, factory, runs the whole contract).
BACKEND_FACTORIES: dict[str, tuple[type[Any], Callable[[Any], Any], bool]] = {
    "rpc": (RpcBackend, rpc_backend, False)}

__all__ = ["BACKEND_FACTORIES", "SelfReplyingRpc", "rpc_backend"]
