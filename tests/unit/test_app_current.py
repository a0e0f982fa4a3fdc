"""``app.set_default()``, ``app.set_current()`` and ``celeriac.current_app`` (Flask's pattern
calls ``set_default``; ``shared_task`` and ``AsyncResult`` without an app follow it)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import celeriac
from celeriac import Celery, _state, shared_task
from tests.helpers import unique_name


@pytest.fixture(autouse=True)
def _restore_default_app() -> Iterator[None]:
    """Every test here changes the process-wide default app: put it back."""
    saved = (_state._default_app, _state._fallback)
    try:
        yield
    finally:
        _state._default_app, _state._fallback = saved


def _app() -> Celery:
    return Celery(unique_name("current"), broker="memory://", set_as_current=False)


def test_set_default_makes_the_app_current_everywhere() -> None:
    app = _app()
    app.set_default()
    assert celeriac.current_app.main == app.main
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(_state.get_current_app()))
    thread.start()
    thread.join()
    assert seen == [app]
    assert not _state.is_fallback_default()


def test_set_current_is_per_thread_and_beats_the_default() -> None:
    default, current = _app(), _app()
    default.set_default()
    seen: dict[str, Any] = {}

    def in_thread() -> None:
        current.set_current()
        seen["thread"] = _state.get_current_app()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen["thread"] is current
    assert _state.get_current_app() is default  # this thread never set one

    def in_context() -> Any:
        current.set_current()
        return celeriac.current_app.main

    assert contextvars.copy_context().run(in_context) == current.main


def test_shared_task_follows_the_default_app() -> None:
    name = unique_name("shared")

    def double(x: int) -> int:
        return 2 * x

    double.__name__ = name
    task = shared_task(double)
    first, second = _app(), _app()
    second.set_default()
    assert task.app is second
    first.set_default()
    assert task.app is first and task(4) == 8
