"""Fixtures of the transport and result-store contract suites.

Every implementation registers a factory here; each contract test then runs once per entry.
A factory receives a ``ContractEnv`` (a fresh ``tmp_path``, a unique ``namespace`` string
to isolate itself on a shared server, and the options the test wants) and returns a ready
``Transport`` or ``ResultBackend``. A factory for a networked service calls ``require_service``
(skip when unreachable, fail under ``CI``) before building. Several objects made in one test
share the namespace, as a client and a worker would.

To add a broker: ``TRANSPORT_FACTORIES["redis"] = _redis_transport`` (and mention in
``HIGHER_PRIORITY_FIRST`` whether a larger ``priority`` is served first on it).

To add a result store: ``BACKEND_FACTORIES["name"] = StoreFactory(TheStore, build)``. A test
marked ``@pytest.mark.capability(Capability.X)`` runs on every store whose class declares X
(``backends.capabilities``); the others run on every ``general`` store.
``test_store_capabilities`` fails for a registered store whose declared capabilities no
factory here builds, or no test proves.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from celeriac.backends.base import ResultBackend
from celeriac.backends.capabilities import Capability
from celeriac.backends.memory import MemoryBackend
from celeriac.backends.sqlite import SqliteBackend
from celeriac.config.frozen import BackendOptions, TransportOptions
from celeriac.transport.base import Transport
from celeriac.transport.memory import MemoryTransport
from celeriac.transport.sqlite import SqliteTransport


@dataclass(frozen=True)
class ContractEnv:
    """What a factory needs: an isolated place and the options the test asked for."""

    tmp_path: Path
    namespace: str
    transport_options: TransportOptions = field(default_factory=TransportOptions)
    backend_options: BackendOptions = field(default_factory=BackendOptions)


TransportFactory = Callable[[ContractEnv], Transport]
BackendFactory = Callable[[ContractEnv], ResultBackend]


@dataclass(frozen=True)
class StoreFactory:
    """A result store of the contract suite: its class, whose ``capabilities`` choose the
    capability tests it runs, and how to build one."""

    cls: type[Any]
    build: BackendFactory
    #: Runs the whole contract; False: only the tests of the capabilities it declares
    #: (``rpc://`` keeps replies for one client: no shared namespace, expiry or forget).
    general: bool = True


def require_service(name: str, url: str, error: BaseException | None) -> None:
    """Skip (or, under CI, fail) a test whose service is unreachable."""
    if error is None:
        return
    message = f"{name} not reachable at {url}: {error}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _memory_transport(env: ContractEnv) -> Transport:
    return MemoryTransport.from_url(f"memory://{env.namespace}", env.transport_options)


def _sqlite_transport(env: ContractEnv) -> Transport:
    url = f"sqlite:///{env.tmp_path / 'broker.db'}"
    return SqliteTransport.from_url(url, env.transport_options)


def _memory_backend(env: ContractEnv) -> ResultBackend:
    return MemoryBackend.from_url(f"cache+memory://{env.namespace}", env.backend_options)


def _sqlite_backend(env: ContractEnv) -> ResultBackend:
    url = f"sqlite:///{env.tmp_path / 'results.db'}"
    return SqliteBackend.from_url(url, env.backend_options)


TRANSPORT_FACTORIES: dict[str, TransportFactory] = {
    "memory": _memory_transport,
    "sqlite": _sqlite_transport,
}

BACKEND_FACTORIES: dict[str, StoreFactory] = {
    "memory": StoreFactory(MemoryBackend, _memory_backend),
    "sqlite": StoreFactory(SqliteBackend, _sqlite_backend),
}

#: Transports that serve a larger ``priority`` first (AMQP semantics); Redis serves 0 first.
HIGHER_PRIORITY_FIRST: set[str] = {"memory", "sqlite"}


from tests.contract import (  # noqa: E402 - after the base table
    amqp_factories,
    django_factories,
    kv_factories,
    redis_factories,
    rpc_factories,
    sql_factories,
)

TRANSPORT_FACTORIES.update(redis_factories.TRANSPORT_FACTORIES)
#: Transports of the fanout contract (``test_fanout_contract.py``): every transport above,
#: plus RabbitMQ, whose queue contract lives in its own integration tests.
FANOUT_FACTORIES: dict[str, TransportFactory] = {
    **TRANSPORT_FACTORIES, **amqp_factories.FANOUT_FACTORIES}
for _factories in (redis_factories.BACKEND_FACTORIES, rpc_factories.BACKEND_FACTORIES,
                   django_factories.BACKEND_FACTORIES, sql_factories.BACKEND_FACTORIES,
                   kv_factories.BACKEND_FACTORIES):
    for _kind, (_cls, _build, _general) in _factories.items():
        BACKEND_FACTORIES[_kind] = StoreFactory(_cls, _build, _general)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "capability(name): a result-store contract test proving one capability")


def stores_for(capability: Capability | None) -> list[str]:
    """The store kinds a test runs on: those declaring ``capability``, or every general one."""
    return sorted(kind for kind, factory in BACKEND_FACTORIES.items()
                  if (capability in factory.cls.capabilities if capability is not None
                      else factory.general))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each result-store test once per store it applies to (``backend_kind``)."""
    if "backend_kind" in metafunc.fixturenames:
        mark = metafunc.definition.get_closest_marker("capability")
        metafunc.parametrize("backend_kind", stores_for(mark.args[0] if mark else None))


@pytest.fixture(params=sorted(TRANSPORT_FACTORIES))
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(FANOUT_FACTORIES))
def fanout_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_fanout_transport(
    fanout_kind: str, tmp_path: Path, namespace: str
) -> Iterator[Callable[..., Transport]]:
    """Like ``make_transport``, over ``FANOUT_FACTORIES``."""
    yield from _transports(FANOUT_FACTORIES[fanout_kind], tmp_path, namespace)


@pytest.fixture
def higher_priority_first(transport_kind: str) -> bool:
    return transport_kind in HIGHER_PRIORITY_FIRST


@pytest.fixture
def namespace() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_transport(
    transport_kind: str, tmp_path: Path, namespace: str
) -> Iterator[Callable[..., Transport]]:
    """``make_transport(**TransportOptions fields)``: transports sharing one namespace."""
    yield from _transports(TRANSPORT_FACTORIES[transport_kind], tmp_path, namespace)


def _transports(factory: TransportFactory, tmp_path: Path,
                namespace: str) -> Iterator[Callable[..., Transport]]:
    """Yield a maker of ``factory``'s transports; close them all afterwards."""
    made: list[Transport] = []

    def make(**overrides: Any) -> Transport:
        options = dataclasses.replace(TransportOptions(), **overrides)
        transport = factory(ContractEnv(tmp_path, namespace, transport_options=options))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def transport(make_transport: Callable[..., Transport]) -> Transport:
    return make_transport()


@pytest.fixture
def queue() -> str:
    """A queue name no other test (or run) uses."""
    return f"contract.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_backend(
    backend_kind: str, tmp_path: Path, namespace: str
) -> Iterator[Callable[..., ResultBackend]]:
    """``make_backend(**BackendOptions fields)``: stores sharing one namespace."""
    made: list[ResultBackend] = []

    def make(**overrides: Any) -> ResultBackend:
        options = dataclasses.replace(BackendOptions(), **overrides)
        env = ContractEnv(tmp_path, namespace, backend_options=options)
        backend = BACKEND_FACTORIES[backend_kind].build(env)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: Callable[..., ResultBackend]) -> ResultBackend:
    return make_backend()
