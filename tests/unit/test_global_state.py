"""``_state``: apps are held weakly, the fork hook resets the live ones, and the log filter
reads the request from ``_state``. That ``_state`` and ``utils/log.py`` never import the app is
the layers contract's to hold (``lint-imports``, pyproject.toml), not a test's."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest

from celeriac import Celery, _state
from celeriac.app import base
from celeriac.utils.log import TaskContextFilter
from tests.helpers import unique_name


def test_an_app_nobody_references_is_garbage_collected() -> None:
    _state.get_current_app()  # the default app is held on purpose; this one is not it
    app = Celery(unique_name("gc"), broker="memory://", set_as_current=False)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    ref = weakref.ref(app)
    assert app in _state.live_apps()
    del app, add
    gc.collect()
    assert ref() is None
    assert all(isinstance(live, Celery) for live in _state.live_apps())


def test_the_fork_hook_resets_every_live_app() -> None:
    app = Celery(unique_name("fork"), broker="memory://", set_as_current=False)
    try:
        transport = app.transport
        assert app._transport is transport
        base._reset_apps_after_fork()
        assert app._transport is None
    finally:
        app.close()


def test_current_app_without_any_app_uses_the_registered_factory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state, "_default_app", None)
    monkeypatch.setattr(_state, "_fallback", False)
    app = _state.get_current_app()
    assert isinstance(app, Celery) and app.main == "default"
    assert _state.is_fallback_default()


def test_the_log_filter_reads_the_request_from_state() -> None:
    from celeriac.execution.context import Context

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    token = _state.request_var.set(Context(id="tid", task="proj.add"))
    try:
        TaskContextFilter().filter(record)
    finally:
        _state.request_var.reset(token)
    assert (record.__dict__["task_id"], record.__dict__["task_name"]) == ("tid", "proj.add")
