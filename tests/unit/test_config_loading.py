"""``load_object_settings``: config modules, classes, mappings, import strings, namespaces."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from celeriac.config import Settings, load_object_settings
from celeriac.exceptions import ImproperlyConfigured

ModuleWriter = Callable[[str], str]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleWriter]:
    """Write an importable module with a unique name; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def write(source: str) -> str:
        name = f"celeriac_cfg_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        created.append(name)
        return name

    yield write
    for name in created:
        sys.modules.pop(name, None)


OLD_STYLE = """
    import os
    from datetime import timedelta

    BROKER_URL = "redis://localhost:6379/0"
    CELERY_RESULT_BACKEND = "redis://localhost:6379/1"
    CELERY_TASK_SERIALIZER = "json"
    CELERY_TASK_RESULT_EXPIRES = timedelta(hours=2)
    CELERYD_CONCURRENCY = 4
    CELERYBEAT_SCHEDULE = {}
    MY_OWN_SETTING = "kept"
    _private = "skipped"
    MixedCase = "skipped"

    def helper():
        return 1
"""


def test_module_with_old_names_loads_as_new_names(write_module: ModuleWriter) -> None:
    name = write_module(OLD_STYLE)

    values = load_object_settings(name)

    assert values == {
        "broker_url": "redis://localhost:6379/0",
        "result_backend": "redis://localhost:6379/1",
        "task_serializer": "json",
        "result_expires": values["result_expires"],
        "worker_concurrency": 4,
        "beat_schedule": {},
        "MY_OWN_SETTING": "kept",
    }
    assert Settings(values).result_expires == 7200.0


def test_module_object_and_import_string_load_the_same(write_module: ModuleWriter) -> None:
    name = write_module(OLD_STYLE)

    assert load_object_settings(importlib.import_module(name)) == load_object_settings(name)


@pytest.mark.parametrize("separator", [":", "."])
def test_import_string_can_name_a_class_in_a_module(
    write_module: ModuleWriter, separator: str
) -> None:
    name = write_module(
        """
        class Config:
            broker_url = "amqp://guest:guest@localhost//"
            task_acks_late = True
        """
    )

    values = load_object_settings(f"{name}{separator}Config")

    assert values == {"broker_url": "amqp://guest:guest@localhost//", "task_acks_late": True}


def test_mapping_source_translates_old_names() -> None:
    values = load_object_settings({"CELERY_ACKS_LATE": True, "worker_pool": "solo", 3: "x"})

    assert values == {"task_acks_late": True, "worker_pool": "solo"}


def test_new_name_beats_old_name_in_the_same_source() -> None:
    source = SimpleNamespace(broker_url="redis://new/0", BROKER_URL="redis://old/0")

    assert load_object_settings(source) == {"broker_url": "redis://new/0"}


def test_code_is_kept_only_for_declared_options() -> None:
    def route(name: str, args: Any, kwargs: Any, options: Any, **kw: Any) -> dict[str, str]:
        return {"queue": "q"}

    source = SimpleNamespace(task_routes=(route,), CELERY_ROUTES=None, some_helper=route)

    values = load_object_settings(source)

    assert values == {"task_routes": (route,)}


DJANGO_STYLE = """
    DEBUG = True
    TIME_ZONE = "Europe/Paris"
    SECRET_KEY = "not-a-celery-setting"
    BROKER_URL = "redis://unprefixed/0"
    CELERY_BROKER_URL = "redis://localhost:6379/0"
    CELERY_RESULT_BACKEND = "redis://localhost:6379/1"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_ACKS_LATE = True
    CELERY_TIMEZONE = "UTC"
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_MY_THING = 3
"""


def test_namespace_takes_only_prefixed_names_and_strips_them(write_module: ModuleWriter) -> None:
    name = write_module(DJANGO_STYLE)

    values = load_object_settings(name, namespace="CELERY")

    assert values == {
        "broker_url": "redis://localhost:6379/0",
        "result_backend": "redis://localhost:6379/1",
        "task_always_eager": True,
        "task_acks_late": True,
        "timezone": "UTC",
        "worker_prefetch_multiplier": 1,
        "my_thing": 3,
    }


def test_namespace_accepts_a_trailing_underscore_and_lowercase() -> None:
    source = {"celery_broker_url": "redis://h/0", "CELERY_DEFAULT_QUEUE": "jobs"}

    values = load_object_settings(source, namespace="celery_")

    assert values == {"broker_url": "redis://h/0", "task_default_queue": "jobs"}


def test_namespace_new_name_beats_prefixed_old_name() -> None:
    source = {"CELERY_TASK_ACKS_LATE": False, "CELERY_ACKS_LATE": True}

    assert load_object_settings(source, namespace="CELERY") == {"task_acks_late": False}


def test_missing_module_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured, match="celeriac_no_such_config_module"):
        load_object_settings("celeriac_no_such_config_module")


def test_missing_attribute_is_improperly_configured(write_module: ModuleWriter) -> None:
    name = write_module("broker_url = 'memory://'\n")

    with pytest.raises(ImproperlyConfigured, match="no attribute 'Missing'"):
        load_object_settings(f"{name}:Missing")


def test_import_error_inside_the_config_module_names_the_cause(
    write_module: ModuleWriter,
) -> None:
    name = write_module("import celeriac_missing_dependency_xyz\n")

    with pytest.raises(ImproperlyConfigured, match="celeriac_missing_dependency_xyz") as info:
        load_object_settings(name)

    assert isinstance(info.value.__cause__, ImportError)


def test_file_name_instead_of_module_name_gets_a_hint() -> None:
    with pytest.raises(ImproperlyConfigured, match="use the module name 'celeryconfig'"):
        load_object_settings("celeryconfig.py")
