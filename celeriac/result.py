"""Compatibility import path ``celery.result``."""

from __future__ import annotations

from celeriac.results.async_result import (
    AsyncResult,
    allow_join_result,
    assert_will_not_block,
)
from celeriac.results.eager import EagerResult
from celeriac.results.group_result import GroupResult, ResultSet, result_from_tuple

__all__ = ["AsyncResult", "EagerResult", "GroupResult", "ResultSet", "allow_join_result",
           "assert_will_not_block", "result_from_tuple"]
