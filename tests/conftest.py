"""Test-wide settings."""

from __future__ import annotations

import sys

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the suite's own redis-server (``tests/suite_redis.py``) if a test started it."""
    suite_redis = sys.modules.get("tests.suite_redis")
    if suite_redis is not None:
        suite_redis.stop_suite_redis()
