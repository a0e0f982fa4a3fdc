"""The pytest plugin: Celery's fixtures (``celery.contrib.pytest``), under the same names.

Loaded by ``-p celeriac.contrib.pytest``, ``pytest_plugins = ("celeriac.contrib.pytest",)``,
or automatically once celeriac is installed (the ``pytest11`` entry point named
``celeriac.contrib.pytest``; ``-p no:celeriac.contrib.pytest`` turns it off). Nothing of
celeriac is imported until a fixture is used, so loading the plugin costs a suite nothing.
Set ``NO_WORKER`` in the environment to skip starting workers, as with Celery.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.contrib.testing.worker import TestWorkController

NO_WORKER = os.environ.get("NO_WORKER")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``celery`` marker (``--strict-markers`` suites accept it)."""
    config.addinivalue_line(
        "markers", "celery(**overrides): override celery configuration for a test case")


@contextmanager
def _create_app(enable_logging: bool = False, use_trap: bool = False,
                parameters: Mapping[str, Any] | None = None,
                **config: Any) -> Iterator[Celery]:
    """A ``TestApp`` inside ``setup_default_app`` (state restored afterwards)."""
    from celeriac.contrib.testing.app import TestApp, setup_default_app

    test_app = TestApp(set_as_current=False, enable_logging=enable_logging, config=config,
                       **dict(parameters or {}))
    with setup_default_app(test_app, use_trap=use_trap):
        yield test_app


def _marked_config(request: pytest.FixtureRequest,
                   celery_config: Mapping[str, Any]) -> dict[str, Any]:
    mark = request.node.get_closest_marker("celery")
    return dict(celery_config, **(mark.kwargs if mark else {}))


@contextmanager
def _worker(app: Celery, includes: Sequence[str], pool: str, parameters: Mapping[str, Any],
            class_tasks: Sequence[Any] = ()) -> Iterator[TestWorkController | None]:
    """Import the task modules, register the class tasks, and run a worker (None, and no
    worker, with ``NO_WORKER`` set)."""
    if NO_WORKER:
        yield None
        return
    from celeriac.contrib.testing import worker

    for module in includes:
        app.loader.import_task_module(module)
    for class_task in class_tasks:
        app.register_task(class_task)
    with worker.start_worker(app, pool=pool, **parameters) as started:
        yield started


@pytest.fixture(scope="session")
def use_celery_app_trap() -> bool:
    """Override to return True: using the current or default app then raises."""
    return False


@pytest.fixture(scope="session")
def celery_session_app(request: pytest.FixtureRequest, celery_config: Mapping[str, Any],
                       celery_parameters: Mapping[str, Any], celery_enable_logging: bool,
                       use_celery_app_trap: bool) -> Iterator[Celery]:
    """Session fixture: the app of the session's fixtures."""
    with _create_app(enable_logging=celery_enable_logging, use_trap=use_celery_app_trap,
                     parameters=celery_parameters,
                     **_marked_config(request, celery_config)) as app:
        if not use_celery_app_trap:
            app.set_default()
            app.set_current()
        yield app


@pytest.fixture(scope="session")
def celery_session_worker(request: pytest.FixtureRequest, celery_session_app: Celery,
                          celery_includes: Sequence[str], celery_class_tasks: Sequence[Any],
                          celery_worker_pool: str,
                          celery_worker_parameters: Mapping[str, Any],
                          ) -> Iterator[TestWorkController | None]:
    """Session fixture: a worker that lives throughout the test session."""
    with _worker(celery_session_app, celery_includes, celery_worker_pool,
                 celery_worker_parameters, celery_class_tasks) as started:
        yield started


@pytest.fixture(scope="session")
def celery_enable_logging() -> bool:
    """Override to return True: the worker sets up its logging."""
    return False


@pytest.fixture(scope="session")
def celery_includes() -> Sequence[str]:
    """Override with the modules to import when a worker starts (tasks, signal receivers)."""
    return ()


@pytest.fixture(scope="session")
def celery_worker_pool() -> str:
    """Override to choose the worker's pool ("solo" by default; "threads", "prefork")."""
    return "solo"


@pytest.fixture(scope="session")
def celery_config() -> Mapping[str, Any]:
    """Override with the settings of the test app (``celery_app``)."""
    return {}


@pytest.fixture(scope="session")
def celery_parameters() -> Mapping[str, Any]:
    """Override with the keyword arguments of the test app's ``Celery(...)``."""
    return {}


@pytest.fixture(scope="session")
def celery_worker_parameters() -> Mapping[str, Any]:
    """Override with the test worker's options (``queues``, ``hostname``...)."""
    return {}


@pytest.fixture()
def celery_app(request: pytest.FixtureRequest, celery_config: Mapping[str, Any],
               celery_parameters: Mapping[str, Any], celery_enable_logging: bool,
               use_celery_app_trap: bool) -> Iterator[Celery]:
    """A fresh test app for each test (``@pytest.mark.celery(...)`` overrides settings)."""
    with _create_app(enable_logging=celery_enable_logging, use_trap=use_celery_app_trap,
                     parameters=celery_parameters,
                     **_marked_config(request, celery_config)) as app:
        yield app


@pytest.fixture(scope="session")
def celery_class_tasks() -> Sequence[Any]:
    """Override with class-based tasks to register on the session app."""
    return []


@pytest.fixture()
def celery_worker(request: pytest.FixtureRequest, celery_app: Celery,
                  celery_includes: Sequence[str], celery_worker_pool: str,
                  celery_worker_parameters: Mapping[str, Any],
                  ) -> Iterator[TestWorkController | None]:
    """A worker on a thread for this test, stopped when the test returns."""
    with _worker(celery_app, celery_includes, celery_worker_pool,
                 celery_worker_parameters) as started:
        yield started


@pytest.fixture()
def depends_on_current_app(celery_app: Celery) -> None:
    """Make the test app the current app."""
    celery_app.set_current()
