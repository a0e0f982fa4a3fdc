"""Unit tests that run tasks here and now: apply(), and task_always_eager."""

import pytest
from proj import tasks


def test_apply_runs_the_task_in_process(celery_app, depends_on_current_app):
    result = tasks.add.apply((2, 3))
    assert result.get() == 5
    assert result.successful()
    assert result.state == "SUCCESS"


def test_called_directly():
    assert tasks.add(2, 2) == 4


@pytest.mark.celery(task_always_eager=True)
def test_always_eager_delay(celery_app, depends_on_current_app):
    assert tasks.add.delay(4, 4).get() == 8
    assert tasks.add_then_double(1, 2).delay().get() == 6
    assert tasks.adds([(1, 1), (2, 2)]).delay().get() == [2, 4]
    assert tasks.sum_of_squares([1, 2, 3]).delay().get() == 14


@pytest.mark.celery(task_always_eager=True)
def test_eager_retries_then_succeeds(celery_app, depends_on_current_app):
    assert tasks.flaky.delay(2).get() == 2


@pytest.mark.celery(task_always_eager=True, task_eager_propagates=True)
def test_eager_failure_propagates(celery_app, depends_on_current_app):
    with pytest.raises(ValueError, match="boom"):
        tasks.fail.delay("boom")


def test_eager_failure_is_kept_on_the_result(celery_app, depends_on_current_app):
    result = tasks.fail.apply(("broken",))
    assert result.failed()
    assert isinstance(result.result, ValueError)
    assert "ValueError" in result.traceback
    with pytest.raises(ValueError):
        result.get()


def test_bound_task_sees_its_request(celery_app, depends_on_current_app):
    result = tasks.whoami.apply((7,), task_id="my-id")
    assert result.get() == {"id": "my-id", "name": "proj.tasks.whoami", "args": [7]}
