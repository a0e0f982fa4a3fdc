"""celeriac.contrib.testing (Celery's ``celery.contrib.testing``) and the pytest plugin's
surface, compared with Celery's where the names and defaults must be the same."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest

from celeriac import _state
from celeriac.app.base import Celery
from celeriac.contrib import pytest as plugin
from celeriac.contrib.testing import worker as testing_worker
from celeriac.contrib.testing.app import DEFAULT_TEST_CONFIG, TestApp, setup_default_app
from celeriac.contrib.testing.mocks import ContextMock, TaskMessage, task_message_from_sig
from celeriac.contrib.testing.worker import start_worker


def _fixture_names(module: Any) -> set[str]:
    return {name for name, value in vars(module).items()
            if hasattr(value, "_fixture_function_marker") or
            type(value).__name__ == "FixtureFunctionDefinition"}


def test_plugin_has_celerys_fixtures() -> None:
    from celery.contrib import pytest as celery_plugin

    ours, theirs = _fixture_names(plugin), _fixture_names(celery_plugin)
    assert "celery_app" in theirs
    assert ours == theirs


def test_start_worker_signature_is_celerys() -> None:
    from celery.contrib.testing.worker import start_worker as celery_start_worker

    ours = inspect.signature(start_worker).parameters
    theirs = inspect.signature(celery_start_worker).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


def test_default_test_config_is_celerys() -> None:
    from celery.contrib.testing.app import DEFAULT_TEST_CONFIG as CELERY_CONFIG

    assert DEFAULT_TEST_CONFIG == CELERY_CONFIG


def _app(**config: Any) -> Celery:
    return TestApp(config={"broker_url": f"memory://{uuid.uuid4().hex}", **config})


def test_test_app_uses_the_test_config_and_explicit_urls_win() -> None:
    app = TestApp(backend="cache+memory://", broker="memory://other")
    assert app.conf.broker_url == "memory://other"
    assert app.conf.accept_content == {"json"}
    assert "celery.ping" in app.tasks
    assert type(app.log).__name__ == "UnitLogging" and app.log.already_setup


def test_start_worker_runs_tasks_and_answers_ping() -> None:
    app = _app()
    events: list[str] = []

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    def started(sender: Any = None, **_: Any) -> None:
        events.append("started")

    testing_worker.test_worker_started.connect(started)
    with setup_default_app(app), start_worker(app, hostname=f"w{uuid.uuid4().hex}@x") as w:
        assert isinstance(w, testing_worker.TestWorkController)
        assert add.delay(2, 3).get(timeout=10) == 5
    testing_worker.test_worker_started.disconnect(started)
    assert events == ["started"]


def test_start_worker_queues_and_exclude_queues() -> None:
    app = _app()
    with setup_default_app(app), start_worker(app, perform_ping_check=False,
                                               queues="a,b,celery", exclude_queues="b") as w:
        assert w.queues == ["a", "celery"]


@pytest.mark.parametrize("option", [{"without_mingle": False}, {"pool_cls": "x"}])
def test_start_worker_refuses_options_it_does_not_have(option: dict[str, Any]) -> None:
    app = _app()
    with setup_default_app(app), pytest.raises(TypeError), start_worker(app, **option):
        pass


def test_setup_default_app_restores_the_apps_and_the_trap_raises() -> None:
    before = _state.get_current_app()
    app = _app()
    with setup_default_app(app, use_trap=True), pytest.raises(RuntimeError,
                                                              match="current_app"):
        _state.get_current_app().tasks  # noqa: B018
    assert _state.get_current_app() is before
    with setup_default_app(app):
        app.set_default()
        app.set_current()
        assert _state.get_current_app() is app
    assert _state.get_current_app() is before


def test_mocks() -> None:
    message = TaskMessage("t.add", id="1", args=(1, 2))
    assert message.headers["id"] == "1"
    assert message.body == b'[[1, 2], {}, {"callbacks": null, "errbacks": null, "chain": null}]'
    app = _app()

    @app.task(name="t.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    sig = mul.s(2, 3).set(countdown=5)
    from_sig = task_message_from_sig(app, sig)
    assert from_sig.headers["task"] == "t.mul" and from_sig.headers["eta"]
    with ContextMock() as context:
        assert context is not None


def test_manager_waits_joins_and_sees_accepted_tasks() -> None:
    import threading

    from celeriac.contrib.testing.manager import Manager, Sentinel

    app = _app()
    release = threading.Event()

    @app.task(name="t.blocks")
    def blocks() -> str:
        release.wait(10)
        return "done"

    manager = Manager(app)
    calls: list[int] = []

    def not_yet() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise Sentinel()
        return len(calls)

    assert manager.wait_for(not_yet, (Sentinel,), interval_start=0.01, interval_step=0) == 3

    def never() -> None:
        raise Sentinel()

    manager.ensure_not_for_a_while(never, (Sentinel,), max_retries=2, interval_start=0.01)
    with pytest.raises(AssertionError, match="Should not"):
        manager.ensure_not_for_a_while(lambda: None, (Sentinel,), max_retries=2)
    with setup_default_app(app), start_worker(app, pool="threads", concurrency=2,
                                               hostname=f"m{uuid.uuid4().hex}@x"):
        result = blocks.delay()
        manager.assert_accepted([result.id], interval=0.2, max_retries=50,
                                interval_start=0.05, interval_step=0.05)
        release.set()
        # As Celery's: values go to join's callback, nothing is returned.
        assert not manager.join(result, timeout=10)
        assert result.get(timeout=1) == "done"
