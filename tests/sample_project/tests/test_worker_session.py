"""A worker that lives for the whole session (``celery_session_worker``).

This module runs after test_worker.py: a session worker keeps consuming the in-memory queue
until the session ends, so per-test workers started after it would share their queue with it
(with Celery as with celeriac: `memory://` is one broker per process).
"""

from proj import tasks


def test_session_worker(celery_session_app, celery_session_worker):
    assert tasks.mul.delay(3, 3).get(timeout=10) == 9


def test_session_worker_again(celery_session_worker):
    assert tasks.add.delay(5, 5).get(timeout=10) == 10
