"""Configuration of the test app and worker, as Celery's "Testing with Celery" page shows."""

import pytest


@pytest.fixture(scope="session")
def celery_config():
    return {
        "broker_url": "memory://",
        "result_backend": "cache+memory://",
    }


@pytest.fixture(scope="session")
def celery_includes():
    return ["proj.tasks", "proj.signal_handlers"]
