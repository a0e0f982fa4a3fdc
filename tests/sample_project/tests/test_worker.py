"""Tests against a real worker on a thread: ``celery_app`` + ``celery_worker``."""

import pytest
from proj import signal_handlers, tasks


def test_create_task(celery_app, celery_worker):
    """The example of Celery's docs: a task defined in the test, then reload()."""

    @celery_app.task
    def mul(x, y):
        return x * y

    celery_worker.reload()
    assert mul.delay(4, 4).get(timeout=10) == 16


def test_shared_tasks(celery_app, celery_worker):
    assert tasks.add.delay(2, 2).get(timeout=10) == 4
    assert ("proj.tasks.add", "SUCCESS") in signal_handlers.finished


def test_failure(celery_app, celery_worker):
    result = tasks.fail.delay("kaput")
    with pytest.raises(ValueError, match="kaput"):
        result.get(timeout=10)
    assert result.state == "FAILURE"


def test_retries(celery_app, celery_worker):
    assert tasks.flaky.delay(2).get(timeout=10) == 2


def test_bound_task(celery_app, celery_worker):
    result = tasks.whoami.delay(1, 2)
    assert result.get(timeout=10) == {"id": result.id, "name": "proj.tasks.whoami",
                                      "args": [1, 2]}


def test_class_based_task(celery_app, celery_worker):
    multiply = celery_app.register_task(tasks.Multiply())
    celery_worker.reload()
    assert multiply.delay(6, 7).get(timeout=10) == 42


def test_chain(celery_app, celery_worker):
    assert tasks.add_then_double(2, 3).delay().get(timeout=10) == 10


def test_group(celery_app, celery_worker):
    assert tasks.adds([(1, 2), (3, 4)]).delay().get(timeout=10) == [3, 7]


def test_chord(celery_app, celery_worker):
    assert tasks.sum_of_squares([1, 2, 3, 4]).delay().get(timeout=10) == 30


@pytest.mark.celery(task_default_queue="sample")
def test_marker_overrides_config(celery_app, celery_worker):
    assert celery_app.conf.task_default_queue == "sample"
    assert tasks.add.delay(1, 1).get(timeout=10) == 2
