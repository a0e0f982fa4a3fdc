"""The Celery names a user imports keep resolving: ``from celery import X`` → ``celeriac``."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import celeriac
from tests.unit.celery_api_not_provided import NOT_PROVIDED, markdown
from tests.unit.celery_api_provided import PROVIDED
from tests.unit.celery_surface import survey

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "celery-compatibility.md"

TOP_LEVEL = ["Celery", "Celeriac", "Task", "shared_task", "Signature", "signature", "chain",
             "group", "chord", "chunks", "xmap", "xstarmap", "maybe_signature", "AsyncResult",
             "GroupResult", "ResultSet", "Queue", "Exchange", "current_app", "current_task",
             "__version__", "uuid", "SERIES", "VERSION", "VERSION_BANNER", "subtask",
             "bugreport", "version_info", "version_info_t"]

COMPAT_PATHS = {
    "celeriac.exceptions": ["Retry", "Reject", "Ignore", "SoftTimeLimitExceeded",
                            "TimeLimitExceeded", "WorkerLostError", "MaxRetriesExceededError",
                            "TimeoutError", "NotRegistered", "ChordError", "TaskRevokedError"],
    "celeriac.schedules": ["crontab", "schedule", "solar"],
    "celeriac.utils.log": ["get_task_logger", "get_logger"],
    "celeriac.result": ["AsyncResult", "GroupResult", "ResultSet", "EagerResult"],
    "celeriac.canvas": ["Signature", "chain", "group", "chord", "signature"],
    "celeriac.app.task": ["Task"],
    "celeriac.signals": ["task_prerun", "task_postrun", "task_success", "task_failure",
                         "task_retry", "task_revoked", "worker_ready", "worker_shutdown",
                         "worker_process_init", "after_setup_logger",
                         "after_setup_task_logger"],
    "celeriac.states": ["PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY",
                        "REVOKED", "READY_STATES"],
}


def test_all_lists_exactly_the_promised_top_level_names() -> None:
    assert sorted(celeriac.__all__) == sorted(TOP_LEVEL)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_name_resolves(name: str) -> None:
    assert getattr(celeriac, name) is not None


@pytest.mark.parametrize("module", sorted(COMPAT_PATHS))
def test_compatibility_import_paths(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in COMPAT_PATHS[module] if not hasattr(imported, name)]
    assert not missing


@pytest.fixture(scope="module")
def surface() -> tuple[list[str], list[str]]:
    """``(provided, missing)``: Celery 5.7's public names, looked up in celeriac now."""
    return survey()


def test_every_celery_name_is_provided_or_left_out_with_a_reason(
        surface: tuple[list[str], list[str]]) -> None:
    have, lack = surface
    assert sorted(set(lack) - set(NOT_PROVIDED)) == [], (
        "celeriac lacks these Celery names: provide them, or list them with the reason in "
        "tests/unit/celery_api_not_provided.py")
    assert sorted(set(NOT_PROVIDED) & set(have)) == [], (
        "celeriac provides these now: drop them from celery_api_not_provided.py")
    assert all(reason.strip() for reason in NOT_PROVIDED.values())


def test_no_provided_celery_name_goes_missing(surface: tuple[list[str], list[str]]) -> None:
    have, _ = surface
    assert sorted(set(PROVIDED) - set(have)) == [], (
        "these Celery names were provided and are gone (or regenerate celery_api_provided.py "
        "with `.venv/bin/python -m tests.unit.celery_surface --write`)")


def test_the_docs_show_every_name_left_out_and_why() -> None:
    assert DOCS_PAGE.read_text() == markdown(), (
        "regenerate: .venv/bin/python -m tests.unit.celery_api_not_provided > "
        "docs/celery-compatibility.md")
