"""Fix-ups and the base task class: which apply, what they change, what ``autodiscover_tasks()``
without arguments asks them. Django itself is never set up here (the end-to-end tests run a
real project in subprocesses: tests/integration/test_django_fixup.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from celeriac import Celery, Task
from celeriac.app.fixups import BUILTIN_FIXUPS
from celeriac.contrib.django.fixup import DJANGO_TASK_CLS, DjangoFixup
from celeriac.contrib.django.task import DjangoTask
from celeriac.exceptions import FixupWarning
from celeriac.pools.prefork import PreforkPool
from celeriac.pools.solo import SoloPool
from tests.helpers import unique_name, write_module


class MarkedTask(Task[Any, Any]):
    marked = True


class Recording:
    """A fix-up of the test's own: records the app, lists packages for autodiscovery."""

    made: ClassVar[list[Celery]] = []
    packages: ClassVar[list[str]] = []

    def __init__(self, app: Celery) -> None:
        self.made.append(app)

    def autodiscover_tasks(self) -> list[str]:
        return list(self.packages)


def recording_fixup(app: Celery) -> Recording:
    return Recording(app)


def never_applies(app: Celery) -> None:
    return None


@pytest.fixture
def django_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """DJANGO_SETTINGS_MODULE set (no such module: nothing here reads the settings)."""
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "no_such_project.settings")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the fix-up puts the cwd first


def _app(**kwargs: Any) -> Celery:
    return Celery(unique_name("fixups"), broker="memory://", set_as_current=False, **kwargs)


def test_without_django_settings_no_fixup_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    app = _app()
    assert app.fixups == set(BUILTIN_FIXUPS)
    assert app._fixups == []
    assert app.task_cls == "celeriac.app.task:Task"
    assert not issubclass(app.Task, DjangoTask)


def test_with_django_settings_tasks_are_django_tasks(django_env: None) -> None:
    app = _app()
    assert [type(fixup) for fixup in app._fixups] == [DjangoFixup]
    assert app.task_cls == DJANGO_TASK_CLS
    assert issubclass(app.Task, DjangoTask)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, DjangoTask)
    assert callable(add.delay_on_commit) and callable(add.apply_async_on_commit)


@pytest.mark.parametrize("chosen", [MarkedTask, f"{__name__}:MarkedTask"])
def test_a_task_class_the_user_chose_is_kept(django_env: None, chosen: Any) -> None:
    app = _app(task_cls=chosen)
    assert app.task_cls is chosen
    assert issubclass(app.Task, MarkedTask) and not issubclass(app.Task, DjangoTask)


def test_a_task_class_set_on_an_app_subclass_is_kept(django_env: None) -> None:
    class MyCelery(Celery):
        task_cls = MarkedTask

    app = MyCelery(unique_name("fixups"), broker="memory://", set_as_current=False)
    assert issubclass(app.Task, MarkedTask) and not issubclass(app.Task, DjangoTask)


def test_fixups_can_be_turned_off(django_env: None) -> None:
    app = _app(fixups=())
    assert app._fixups == [] and not issubclass(app.Task, DjangoTask)


def test_missing_django_warns_and_applies_nothing(django_env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django", None)  # import django -> ImportError
    with pytest.warns(FixupWarning, match="Django isn't installed"):
        app = _app()
    assert app._fixups == [] and not issubclass(app.Task, DjangoTask)


def test_autodiscover_without_arguments_asks_the_fixups(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    package = unique_name("discovered")
    (tmp_path / package).mkdir()
    write_module(tmp_path / package, "__init__", "")
    write_module(tmp_path / package, "tasks", "LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(Recording, "made", [])
    monkeypatch.setattr(Recording, "packages", [])
    app = _app(fixups=[f"{__name__}:recording_fixup", f"{__name__}:never_applies"])
    assert Recording.made == [app] and len(app._fixups) == 1
    app.autodiscover_tasks()
    Recording.packages = [package]  # asked when the modules are imported, not before
    app.loader_import_modules()
    assert sys.modules[f"{package}.tasks"].LOADED is True


def test_autodiscover_without_fixups_keeps_the_installed_apps_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = unique_name("installed")
    (tmp_path / package).mkdir()
    write_module(tmp_path / package, "__init__", "")
    write_module(tmp_path / package, "tasks", "LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _app(fixups=(), installed_apps=[package])
    app.autodiscover_tasks()
    app.loader_import_modules()
    assert f"{package}.tasks" in sys.modules


class _WorkerFixupRecorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def validate_models(self) -> None:
        self.calls.append("validate_models")

    def install(self, prefork: bool = False) -> None:
        self.calls.append(f"install:prefork={prefork}")


def test_django_setup_runs_when_its_own_app_imports_task_modules(django_env: None) -> None:
    app, other = _app(), _app()
    fixup, other_fixup = app._fixups[0], other._fixups[0]
    fixup._worker_fixup = recorder = _WorkerFixupRecorder()
    other_fixup._worker_fixup = other_recorder = _WorkerFixupRecorder()
    app.loader_import_modules()
    assert recorder.calls == ["validate_models"] and other_recorder.calls == []


def test_worker_fixup_installs_only_for_a_worker_of_its_app(django_env: None) -> None:
    app, other = _app(), _app()
    fixup = app._fixups[0]
    fixup._worker_fixup = recorder = _WorkerFixupRecorder()

    class FakeWorker:  # what the receiver reads of celeriac.worker.Worker
        def __init__(self, app: Celery, pool: object) -> None:
            self.app = app
            self.pool = pool

    fixup.on_worker_init(sender=FakeWorker(other, SoloPool.__new__(SoloPool)))
    assert recorder.calls == []
    fixup.on_worker_init(sender=FakeWorker(app, PreforkPool.__new__(PreforkPool)))
    fixup.on_worker_init(sender=FakeWorker(app, SoloPool.__new__(SoloPool)))
    assert recorder.calls == ["install:prefork=True", "install:prefork=False"]
