"""Issue 11, defect 12: Celery's guards.

* ``result.get()`` inside a task raises Celery's ``RuntimeError`` (a solo worker deadlocked);
* two live workers with one node name are warned about (``DuplicateNodenameWarning``);
* ``get_task_logger('proj.tasks')`` is the logger ``proj.tasks``, as in Celery.

In-process workers on ``memory://``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from celeriac import Celery
from celeriac.canvas import group
from celeriac.control.inspect import flatten_replies
from celeriac.exceptions import DuplicateNodenameWarning
from celeriac.result import allow_join_result
from celeriac.utils.log import TASK_LOGGER_NAME, get_task_logger
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker, wait_until

WOULD_BLOCK = "Never call result.get() within a task!"


def new_app() -> Celery:
    name = uuid.uuid4().hex
    return Celery("guards", broker=f"memory://{name}", backend=f"cache+memory://{name}",
                  set_as_current=False)


@contextmanager
def running(app: Celery, pool: str = "threads", hostname: str = "") -> Iterator[Worker]:
    with in_process_worker(app, pool=pool, concurrency=1 if pool == "solo" else 2,
                           hostname=hostname) as worker:
        yield worker


@pytest.fixture
def app() -> Celery:
    app = new_app()

    @app.task(name="g.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="g.waits")
    def waits() -> int:
        # On a solo worker this would wait for a task that can only run after this one.
        return int(add.delay(1, 2).get(timeout=5))

    @app.task(name="g.waits_group")
    def waits_group() -> list[int]:
        return list(group(add.s(1, 1), add.s(2, 2)).delay().get(timeout=5))

    @app.task(name="g.waits_allowed")
    def waits_allowed() -> list[int]:
        first = add.delay(1, 2).get(timeout=10, disable_sync_subtasks=False)
        with allow_join_result():
            second = add.delay(2, 2).get(timeout=10)
        return [first, second]

    return app


@pytest.mark.parametrize("name", ["g.waits", "g.waits_group"])
def test_waiting_for_a_result_inside_a_task_raises_celerys_error(app: Celery, name: str) -> None:
    with running(app, "solo"):
        error = app.send_task(name).get(timeout=30, propagate=False)
    assert isinstance(error, RuntimeError)
    assert WOULD_BLOCK in str(error)


def test_the_guard_can_be_lifted_as_in_celery(app: Celery) -> None:
    with running(app, "threads"):
        assert app.send_task("g.waits_allowed").get(timeout=30) == [3, 4]


def test_outside_a_task_and_in_eager_mode_get_waits_as_usual(app: Celery) -> None:
    with running(app, "threads"):
        assert app.send_task("g.add", (2, 3)).get(timeout=10) == 5
    assert app.tasks["g.add"].apply((1, 1)).get() == 2


# -- duplicate node names ---------------------------------------------------------------------
def test_inspect_warns_about_two_replies_from_one_node_name() -> None:
    replies = [{"a@host": {"ok": "pong"}}, {"b@host": {"ok": "pong"}}, {"a@host": {"ok": "pong"}}]
    with pytest.warns(DuplicateNodenameWarning, match="multiple replies from node name: a@host"):
        assert flatten_replies(replies) == {"a@host": {"ok": "pong"}, "b@host": {"ok": "pong"}}


def test_a_worker_starting_under_a_live_workers_name_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = new_app()
    hostname = f"dup-{uuid.uuid4().hex[:6]}@test"
    caplog.set_level(logging.WARNING, logger="celeriac.worker.control.duplicates")
    with running(app, hostname=hostname) as first:
        wait_until(lambda: first.nodename_check is not None, message="first worker started")
        assert first.nodename_check is not None
        first.nodename_check.join(30)
        assert "DuplicateNodenameWarning" not in caplog.text  # alone under its name
        wait_until(lambda: app.control.ping(destination=[hostname], timeout=0.5),
                   message="first worker answering pings")
        with running(app, hostname=hostname) as second:
            wait_until(lambda: second.nodename_check is not None, message="second started")
            assert second.nodename_check is not None
            second.nodename_check.join(30)
    assert f"Received multiple replies from node name: {hostname}" in caplog.text


# -- task loggers ---------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_get_task_logger_returns_the_named_logger_below_the_task_logger() -> None:
    name = f"proj_{uuid.uuid4().hex[:6]}.tasks"
    configured = logging.getLogger(name)  # what a logging config keyed on the module sets up
    mine, parents = _Collect(), _Collect()
    configured.addHandler(mine)
    logging.getLogger(TASK_LOGGER_NAME).addHandler(parents)
    try:
        logger = get_task_logger(name)
        logger.warning("hello from a task module")
    finally:
        configured.removeHandler(mine)
        logging.getLogger(TASK_LOGGER_NAME).removeHandler(parents)
    assert logger is configured and logger.name == name
    assert logger.parent is logging.getLogger(TASK_LOGGER_NAME)
    assert [r.getMessage() for r in mine.records] == ["hello from a task module"]
    assert [r.name for r in parents.records] == [name]


@pytest.mark.parametrize("name", ["celery", "celery.task"])
def test_reserved_task_logger_names(name: str) -> None:
    with pytest.raises(RuntimeError, match="reserved"):
        get_task_logger(name)


def test_the_root_logger_is_not_made_a_child_of_the_task_logger() -> None:
    root = logging.getLogger()
    assert get_task_logger("") is root and root.parent is None
