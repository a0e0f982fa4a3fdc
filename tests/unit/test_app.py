"""The Celery-compatible app surface, without a broker."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from celeriac import Celeriac, Celery, shared_task
from celeriac.app.routing import TaskRouter
from celeriac.app.task import Task
from celeriac.exceptions import NotRegistered


def test_celeriac_is_the_same_class_as_celery() -> None:
    assert Celeriac is Celery


def test_task_decorator_bare_and_with_options_names_tasks_by_module() -> None:
    app = Celery("proj")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="custom.name", queue="q1", max_retries=7, rate_limit="10/s")
    def other() -> None: ...

    assert add.name == f"{__name__}.add"
    assert app.tasks["custom.name"] is other
    assert other.queue == "q1" and other.max_retries == 7 and other.rate_limit == "10/s"
    assert add(2, 3) == 5


def test_bind_gives_self_and_a_request_when_called_directly() -> None:
    app = Celery("proj")

    @app.task(bind=True)
    def whoami(self: Task[Any, Any], x: int) -> Any:
        return (self.name, self.request.args, self.request.called_directly, x)

    assert whoami(1) == (whoami.name, [1], True, 1)


def test_base_class_hooks_and_options_are_inherited() -> None:
    app = Celery("proj")

    class Base(Task[Any, Any]):
        acks_late = True

        def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None: ...

    @app.task(base=Base)
    def job() -> int:
        return 1

    assert isinstance(job, Base) and job.acks_late is True


def test_unknown_task_lookup_suggests_close_name() -> None:
    app = Celery("proj")

    @app.task(name="proj.add")
    def add() -> None: ...

    with pytest.raises(NotRegistered, match=r"Did you mean 'proj\.add'"):
        app.tasks["proj.ad"]


def test_old_and_new_setting_names_are_the_same_setting() -> None:
    app = Celery("proj", CELERY_ACKS_LATE=True)
    app.conf.update(CELERYD_CONCURRENCY=3, task_default_queue="jobs")
    assert app.conf.task_acks_late is True
    assert app.conf.worker_concurrency == 3
    assert app.conf.CELERY_DEFAULT_QUEUE == "jobs"


def test_typo_in_setting_name_warns_with_the_likely_name() -> None:
    app = Celery("proj")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.conf.update(task_acks_lates=True)
    assert any("task_acks_late" in str(w.message) for w in caught)


def test_signature_is_dict_shaped_like_celery() -> None:
    app = Celery("proj")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    sig = add.si(7, 7).set(countdown=5, priority=3)
    assert dict(sig) == {"task": "proj.add", "args": [7, 7], "kwargs": {},
                         "options": {"countdown": 5, "priority": 3},
                         "subtask_type": None, "immutable": True}


def test_always_eager_runs_in_process() -> None:
    app = Celery("proj", task_always_eager=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(2, 2)
    assert result.get() == 4 and result.successful()


def test_router_resolves_options_task_queue_globs_and_default() -> None:
    router = TaskRouter({"proj.mail.*": {"queue": "mail"}, "proj.exact": "exactq"}, "celery")
    assert router.route("proj.mail.send", {}).queue == "mail"
    assert router.route("proj.exact", {}).queue == "exactq"
    assert router.route("proj.other", {}).queue == "celery"
    assert router.route("proj.other", {"queue": "explicit"}).queue == "explicit"
    assert router.route("proj.other", {}, task_queue="own").queue == "own"


def test_shared_task_binds_to_every_app() -> None:
    @shared_task(name="shared.double")  # type: ignore[untyped-decorator]  # returns a proxy
    def double(x: int) -> int:
        return 2 * x

    first, second = Celery("one"), Celery("two")
    assert "shared.double" in first.tasks and "shared.double" in second.tasks


def test_plain_delay_reuses_its_send_plan_until_settings_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``delay()`` passes None-valued options (task_id, link...): still the cached plan."""
    from celeriac.app import send

    app = Celery("plans", broker="memory://plans")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    calls: list[str] = []
    original = send._merge

    def counting(*args: Any, **kwargs: Any) -> send.SendPlan:
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(send, "_merge", counting)
    add.delay(1, 2)
    add.delay(3, 4)
    add.apply_async((5, 6), task_id=None, link=None)
    assert len(calls) == 1
    add.apply_async((5, 6), countdown=5)  # real options: planned for this call
    app.conf.task_default_priority = 3  # settings changed: planned afresh once
    add.delay(7, 8)
    add.delay(9, 10)
    assert len(calls) == 3
