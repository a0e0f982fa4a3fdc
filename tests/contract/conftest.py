"""Fixtures of the transport and result-store contract suites.

Every implementation registers a factory here; each contract test then runs once per entry.
A factory receives a ``ContractEnv`` (a fresh ``tmp_path``, a unique ``namespace`` string
to isolate itself on a shared server, and the options the test wants) and returns a ready
``Transport`` or ``ResultBackend``. A factory for a networked service calls ``require_service``
(skip when unreachable, fail under ``CI``) before building. Several objects made in one test
share the namespace, as a client and a worker would.

To add a broker: ``TRANSPORT_FACTORIES["redis"] = _redis_transport`` (and mention in
``HIGHER_PRIORITY_FIRST`` whether a larger ``priority`` is served first on it).
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
    url = f"db+sqlite:///{env.tmp_path / 'results.db'}"
    return SqliteBackend.from_url(url, env.backend_options)


TRANSPORT_FACTORIES: dict[str, TransportFactory] = {
    "memory": _memory_transport,
    "sqlite": _sqlite_transport,
}

BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": _memory_backend,
    "sqlite": _sqlite_backend,
}

#: Transports that serve a larger ``priority`` first (AMQP semantics); Redis serves 0 first.
HIGHER_PRIORITY_FIRST: set[str] = {"memory", "sqlite"}


from tests.contract import redis_factories  # noqa: E402 - registers after the base table

TRANSPORT_FACTORIES.update(redis_factories.TRANSPORT_FACTORIES)
BACKEND_FACTORIES.update(redis_factories.BACKEND_FACTORIES)


@pytest.fixture(params=sorted(TRANSPORT_FACTORIES))
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def higher_priority_first(transport_kind: str) -> bool:
    return transport_kind in HIGHER_PRIORITY_FIRST


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def namespace() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_transport(
    transport_kind: str, tmp_path: Path, namespace: str
) -> Iterator[Callable[..., Transport]]:
    """``make_transport(**TransportOptions fields)``: transports sharing one namespace."""
    made: list[Transport] = []

    def make(**overrides: Any) -> Transport:
        options = dataclasses.replace(TransportOptions(), **overrides)
        env = ContractEnv(tmp_path, namespace, transport_options=options)
        transport = TRANSPORT_FACTORIES[transport_kind](env)
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
        backend = BACKEND_FACTORIES[backend_kind](env)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: Callable[..., ResultBackend]) -> ResultBackend:
    return make_backend()
