"""Eager mode (``apply()``, ``task_always_eager``) compared with real Celery 5.7: the same
scenarios (tests/interop/eager_scenarios.py) must give the same results, the same
``get()`` behaviour and the same task signals and handler calls, in the same order.

Deliberate differences, not compared: Celery also sends ``task_internal_error`` when an eager
call propagates (celeriac has no such signal), and ``EagerResult.then`` returns the
callback's value where Celery returns a vine promise.
"""

from __future__ import annotations

import pytest

from tests.interop.eager_scenarios import SCENARIOS, run_scenario


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_eager_matches_celery(name: str) -> None:
    expected = run_scenario("celery", name)
    got = run_scenario("celeriac", name)
    assert got["value"] == expected["value"]
    assert got["log"] == expected["log"]
