"""Test-wide settings."""

from __future__ import annotations

import sys

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the suite's own redis-server (``tests/suite_redis.py``) and memcached
    (``tests/memcached_server.py``) if a test started them."""
    suite_redis = sys.modules.get("tests.suite_redis")
    if suite_redis is not None:
        suite_redis.stop_suite_redis()
    suite_memcached = sys.modules.get("tests.memcached_server")
    if suite_memcached is not None:
        suite_memcached.stop_suite_memcached()


#: tests/sample_project is a separate project with its own test suite (written against
#: Celery's pytest fixtures): tests/interop/test_sample_project.py runs it in a subprocess.
collect_ignore = ["sample_project"]
