"""Interop tests run real Celery clients in this process.

Celery's Redis result consumer re-opens pub/sub connections behind ``app.close()`` (see
``tests.helpers.close_celery_app``), and apps of either side that a test drops are collected
at an arbitrary later moment; their sockets' ResourceWarning would then fail whichever test
happens to be running. Collecting after each test, with that one warning silenced, keeps the
failure from landing on an unrelated test. Only this directory does it: elsewhere an
unclosed socket of celeriac's is still an error.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_celery_leftovers() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
