"""``task_annotations``: Celery's forms (dict, '*', list, objects, import paths, '@' wrappers),
applied when a task is registered and again when the app is finalized."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celeriac import Celery


@pytest.fixture
def app() -> Celery:
    return Celery("annotations", broker="memory://", backend="cache+memory://")


def test_a_dict_annotates_the_named_task_only(app: Celery) -> None:
    app.conf.task_annotations = {"proj.add": {"rate_limit": "10/s", "acks_late": True}}

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="proj.other")
    def other() -> None: ...

    assert (add.rate_limit, add.acks_late) == ("10/s", True)
    assert (other.rate_limit, other.acks_late) == (None, None)


def test_star_applies_to_every_task_after_the_named_match(app: Celery) -> None:
    app.conf.task_annotations = [{"proj.a": {"max_retries": 7, "time_limit": 5.0}},
                                 {"*": {"time_limit": 60.0}}]

    @app.task(name="proj.a")
    def a() -> None: ...

    @app.task(name="proj.b")
    def b() -> None: ...

    assert (a.max_retries, a.time_limit) == (7, 60.0)  # '*' is applied last, as in Celery
    assert (b.max_retries, b.time_limit) == (3, 60.0)


def test_the_first_matching_annotation_of_a_list_wins(app: Celery) -> None:
    app.conf.task_annotations = ({"proj.a": {"soft_time_limit": 1.0}},
                                 {"proj.a": {"soft_time_limit": 2.0}})

    @app.task(name="proj.a")
    def a() -> None: ...

    assert a.soft_time_limit == 1.0


class ByPrefix:
    """The object form from Celery's docs."""

    def annotate(self, task: Any) -> dict[str, Any] | None:
        if task.name.startswith("proj."):
            return {"rate_limit": "5/m"}
        return None


@pytest.fixture
def annotation_module() -> Iterator[str]:
    module = types.ModuleType("annotations_fixture")
    module.ByPrefix = ByPrefix  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


@pytest.mark.parametrize("form", ["object", "class_path", "object_in_list"])
def test_objects_and_import_paths_with_annotate(app: Celery, annotation_module: str,
                                                form: str) -> None:
    setting: Any = {"object": ByPrefix(), "class_path": f"{annotation_module}:ByPrefix",
                    "object_in_list": [ByPrefix()]}[form]
    app.conf.task_annotations = setting

    @app.task(name="proj.a")
    def a() -> None: ...

    @app.task(name="other.b")
    def b() -> None: ...

    assert (a.rate_limit, b.rate_limit) == ("5/m", None)


def test_an_at_key_wraps_the_method_once_however_often_applied(app: Celery) -> None:
    calls: list[str] = []

    def around(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append("around")
            return method(self, *args, **kwargs)
        return wrapper

    app.conf.task_annotations = {"proj.a": {"@on_success": around}}

    @app.task(name="proj.a")
    def a() -> None: ...

    app.finalize()  # applies the annotations a second time
    a.on_success(None, "id", (), {})
    assert calls == ["around"]


def test_annotations_configured_after_the_decorator_apply_at_finalize(app: Celery) -> None:
    @app.task(name="proj.a")
    def a() -> None: ...

    @app.register_task
    class Classy(app.Task):  # type: ignore[name-defined,misc]
        name = "proj.classy"

        def run(self) -> None: ...

    app.conf.task_annotations = {"*": {"acks_late": True}}
    before = a.acks_late
    app.finalize()
    assert (before, a.acks_late) == (None, True)
    assert app.tasks["proj.classy"].acks_late is True
