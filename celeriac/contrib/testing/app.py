"""Apps for tests, as Celery's ``celery.contrib.testing.app``: ``TestApp`` (in-memory broker
and results) and ``setup_default_app``, which restores the process's app state afterwards."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any

from celeriac import _state
from celeriac.app.base import Celery
from celeriac.app.log import Logging

#: The default configuration of the test app (Celery's values).
DEFAULT_TEST_CONFIG: dict[str, Any] = {
    "worker_hijack_root_logger": False,
    "worker_log_color": False,
    "accept_content": {"json"},
    "enable_utc": True,
    "timezone": "UTC",
    "broker_url": "memory://",
    "result_backend": "cache+memory://",
    "broker_heartbeat": 0,
}


class Trap:
    """Pretends to be an app, but raises whenever used: catches code that falls back to
    the current or default app instead of the one it was given (``use_celery_app_trap``)."""

    def __getattr__(self, name: str) -> Any:
        # unittest.mock probes these when patching: let it.
        if name in ("_is_coroutine", "__func__"):
            return None
        raise RuntimeError("Test depends on current_app")


class UnitLogging(Logging):
    """Logging for the test app: counts as set up already, so a test worker leaves the
    test runner's logging alone (Celery's ``UnitLogging``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.already_setup = True

    def setup_logging_subsystem(self, *args: Any, **kwargs: Any) -> None:
        if self.already_setup:
            return
        super().setup_logging_subsystem(*args, **kwargs)


def TestApp(name: str | None = None, config: dict[str, Any] | None = None,
            enable_logging: bool = False, set_as_current: bool = False,
            log: Any = UnitLogging, backend: str | None = None, broker: str | None = None,
            **kwargs: Any) -> Celery:
    """An app for tests: ``DEFAULT_TEST_CONFIG`` under ``config``, as defaults (settings
    given as keyword arguments win); ``broker``/``backend`` win over the config's URLs.
    ``enable_logging``: a worker started for it sets up logging (``UnitLogging`` otherwise).
    """
    from celeriac.contrib.testing import tasks  # noqa: F401 - registers celery.ping

    conf = dict(deepcopy(DEFAULT_TEST_CONFIG), **(config or {}))
    if broker is not None:
        conf.pop("broker_url", None)
    if backend is not None:
        conf.pop("result_backend", None)
    app = Celery(name or "celery.tests", set_as_current=set_as_current,
                 log=None if enable_logging else log, broker=broker, backend=backend,
                 **kwargs)
    app.add_defaults(conf)
    return app


@contextmanager
def set_trap(app: Celery) -> Iterator[None]:
    """Make ``Trap`` the current and default app inside the block."""
    trap: Any = Trap()
    previous = (_state._default_app, _state._fallback)
    token = _state.current_app_var.set(trap)
    _state.set_default_app(trap)
    try:
        yield
    finally:
        _state.current_app_var.reset(token)
        _state._default_app, _state._fallback = previous


@contextmanager
def setup_default_app(app: Celery, use_trap: bool = False) -> Iterator[None]:
    """Run the block with ``app`` available; afterwards the default and current apps, the
    ``shared_task`` finalizers and the set of apps are as before, and ``app`` is closed."""
    previous_default = (_state._default_app, _state._fallback)
    previous_current = _state.current_app_var.get()
    previous_finalizers = list(_state._shared_finalizers)
    previous_apps: weakref.WeakSet[Celery] = weakref.WeakSet(_state._apps)
    try:
        if use_trap:
            with set_trap(app):
                yield
        else:
            yield
    finally:
        _state._default_app, _state._fallback = previous_default
        _state.current_app_var.set(previous_current)
        if app is not previous_current:
            app.close()
        _state._shared_finalizers[:] = previous_finalizers
        _state._apps = previous_apps

