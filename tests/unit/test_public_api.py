"""The Celery names a user imports keep resolving: ``from celery import X`` → ``celeriac``."""

from __future__ import annotations

import importlib

import pytest

import celeriac

TOP_LEVEL = ["Celery", "Celeriac", "Task", "shared_task", "Signature", "signature", "chain",
             "group", "chord", "chunks", "xmap", "xstarmap", "maybe_signature", "AsyncResult",
             "GroupResult", "ResultSet", "Queue", "Exchange", "current_app", "current_task",
             "__version__", "uuid"]

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
