"""The app API's names and signatures match Celery 5.7's, and the same code gives the same
answers on both apps (configuration helpers, registry, ``now``, ``subclass_with_self``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import celery
import pytest

from celeriac import Celery

#: Methods user code calls; their parameters (names, order, defaults) must be Celery's.
SAME_SIGNATURE = [
    "config_from_object", "config_from_envvar", "config_from_cmdline", "add_defaults",
    "autodiscover_tasks", "connection_for_read", "connection_for_write",
    "connection_or_acquire", "producer_or_acquire", "subclass_with_self", "now",
    "bugreport", "gen_task_name", "finalize",
]
#: Attributes Celery's app has that celeriac's must have too.
ATTRIBUTES = [
    "Worker", "WorkController", "Beat", "ResultSet", "events", "log", "loader", "amqp",
    "pool", "producer_pool",
    "connection", "broker_connection", "default_connection", "default_producer", "timezone",
    "user_options", "steps", "on_configure", "on_after_configure", "on_after_finalize",
    "on_after_fork", "Task", "tasks", "control", "finalized", "set_current", "set_default",
]


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.fixture
def apps() -> Iterator[tuple[Any, Celery]]:
    theirs = celery.Celery("sig", broker="memory://", set_as_current=False)
    ours = Celery("sig", broker="memory://", set_as_current=False)
    yield theirs, ours
    theirs.close()
    ours.close()


@pytest.mark.parametrize("name", SAME_SIGNATURE)
def test_method_signatures_match_celery(apps: tuple[Any, Celery], name: str) -> None:
    theirs, ours = apps
    assert _parameters(getattr(ours, name)) == _parameters(getattr(theirs, name))


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_attributes_exist(apps: tuple[Any, Celery], name: str) -> None:
    theirs, ours = apps
    assert hasattr(theirs, name)
    assert hasattr(ours, name)


@pytest.mark.parametrize("name", ["broadcast", "election", "purge"])
def test_control_signatures_match_celery(apps: tuple[Any, Celery], name: str) -> None:
    theirs, ours = apps
    assert _parameters(getattr(ours.control, name)) == _parameters(
        getattr(theirs.control, name))


def test_registry_methods_answer_alike(apps: tuple[Any, Celery]) -> None:
    def regular() -> None:
        return None

    for app in apps:
        app.task(name="sig.regular")(regular)

    theirs, ours = apps
    assert ("sig.regular" in theirs.tasks.regular()) == ("sig.regular" in ours.tasks.regular())
    assert theirs.tasks.periodic() == {} == ours.tasks.periodic()
    with pytest.raises(theirs.tasks.NotRegistered):
        theirs.tasks.unregister("sig.missing")
    with pytest.raises(ours.tasks.NotRegistered):
        ours.tasks.unregister("sig.missing")


def test_cmdline_and_defaults_configure_alike(apps: tuple[Any, Celery]) -> None:
    argv = ["worker_prefetch_multiplier=3", "task_always_eager=yes", "task_default_queue=q1"]
    for app in apps:
        app.config_from_cmdline(argv)
        app.conf.result_expires = 5
        app.add_defaults({"result_expires": 10, "task_default_priority": 4})
    theirs, ours = apps
    for key in ("worker_prefetch_multiplier", "task_always_eager", "task_default_queue",
                "result_expires", "task_default_priority"):
        assert ours.conf[key] == theirs.conf[key], key


def test_now_and_timezone_alike(apps: tuple[Any, Celery]) -> None:
    for app in apps:
        app.conf.timezone = "America/New_York"
    theirs, ours = apps
    assert str(ours.timezone) == str(theirs.timezone)
    assert ours.now().utcoffset() == theirs.now().utcoffset()


def test_subclass_with_self_alike(apps: tuple[Any, Celery]) -> None:
    class Thing:
        app = None

    for app in apps:
        bound = app.subclass_with_self(Thing, name="Bound", attribute="owner")
        assert bound.owner is app and bound.__name__ == "Bound"
