"""Issue 15, Task behaviour in a worker (in-process, ``memory://``): ``Reject``, ``Ignore``,
``throws``, ``autoretry_for``/``dont_autoretry_for`` with Celery's backoff, ``trail``.

The same behaviours across a real broker and worker processes are in
``tests/integration/test_task_behaviour_e2e.py``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, signals, states
from celeriac.exceptions import Ignore, Reject
from tests.helpers import in_process_worker, wait_until

RUNS: dict[str, int] = {}


class Expected(Exception):
    pass


@pytest.fixture
def app() -> Iterator[Celery]:
    name = uuid.uuid4().hex
    app = Celery("outcomes", broker=f"memory://{name}", backend=f"cache+memory://{name}")
    RUNS.clear()

    @app.task(name="o.reject_for_good")
    def reject_for_good() -> None:
        raise Reject("no good", requeue=False)

    @app.task(name="o.reject_once", bind=True)
    def reject_once(self: Any) -> str:
        RUNS["reject_once"] = RUNS.get("reject_once", 0) + 1
        if RUNS["reject_once"] == 1:
            raise Reject("again", requeue=True)
        return "second run"

    @app.task(name="o.ignore")
    def ignore() -> None:
        raise Ignore()

    @app.task(name="o.expected", throws=(Expected,))
    def expected() -> None:
        raise Expected("as planned")

    @app.task(name="o.unexpected")
    def unexpected() -> None:
        raise ValueError("surprise")

    define_retrying_tasks(app)
    with in_process_worker(app, pool="threads", concurrency=2):
        yield app


def define_retrying_tasks(app: Celery) -> None:
    @app.task(name="o.errback")
    def errback(request: Any, exc: Any, traceback: Any) -> None:
        RUNS["errback"] = RUNS.get("errback", 0) + 1

    @app.task(name="o.auto", autoretry_for=(Exception,), dont_autoretry_for=(KeyError,),
              retry_backoff=5, retry_backoff_max=3, retry_jitter=False, max_retries=1)
    def auto(kind: str) -> None:
        RUNS[kind] = RUNS.get(kind, 0) + 1
        if kind == "key":
            raise KeyError(kind)
        if kind == "ignore":
            raise Ignore()
        raise ValueError(kind)

    @app.task(name="o.progress", bind=True)
    def progress(self: Any) -> None:
        self.send_event("task-progress", current=1, total=2)

    @app.task(name="o.child")
    def child(x: int) -> int:
        return x

    @app.task(name="o.parent")
    def parent() -> str:
        child.delay(1)
        child.delay(2)
        return "sent"


def _record(signal: Any) -> tuple[list[dict[str, Any]], Any]:
    seen: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    signal.connect(receiver, weak=False)
    return seen, receiver


def test_reject_without_requeue_stores_failure_as_celery(app: Celery) -> None:
    failures, on_failure = _record(signals.task_failure)
    postruns, on_postrun = _record(signals.task_postrun)
    try:
        result = app.tasks["o.reject_for_good"].apply_async(
            link_error=app.signature("o.errback"))
        with pytest.raises(Reject):
            result.get(timeout=10)
        assert result.state == states.FAILURE
        wait_until(lambda: postruns, message="task_postrun")
    finally:
        signals.task_failure.disconnect(on_failure)
        signals.task_postrun.disconnect(on_postrun)
    assert [type(f["exception"]) for f in failures] == [Reject]
    assert postruns[0]["state"] == states.REJECTED  # Celery's tracer state
    wait_until(lambda: RUNS.get("errback") == 1, message="the errback")
    wait_until(lambda: _dead_letter_of(app, result.id), message="the dead letter")


def _dead_letter_of(app: Celery, task_id: str) -> bool:
    """Whether the message of ``task_id`` is among the dead letters (it is set aside once its
    result is stored, so a moment after ``get()`` returned)."""
    channel = app.transport.channel()
    try:
        return any(task_id.encode() in letter.payload and "rejected by task" in letter.reason
                   for letter in channel.dead_letters())
    finally:
        channel.close()


def test_reject_with_requeue_runs_again(app: Celery) -> None:
    assert app.tasks["o.reject_once"].delay().get(timeout=10) == "second run"
    assert RUNS["reject_once"] == 2


def test_ignore_stores_nothing_and_acks(app: Celery) -> None:
    postruns, receiver = _record(signals.task_postrun)
    try:
        result = app.tasks["o.ignore"].delay()
        wait_until(lambda: postruns, message="task_postrun")
    finally:
        signals.task_postrun.disconnect(receiver)
    assert postruns[0]["state"] == states.IGNORED
    assert result.state == states.PENDING


def test_throws_are_logged_at_info_without_traceback(app: Celery,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="celeriac.app.trace")
    with pytest.raises(Expected):
        app.tasks["o.expected"].delay().get(timeout=10)
    with pytest.raises(ValueError):
        app.tasks["o.unexpected"].delay().get(timeout=10)
    wait_until(lambda: "surprise" in caplog.text, message="the failure log")
    [expected] = [r for r in caplog.records if "as planned" in r.getMessage()]
    assert expected.levelno == logging.INFO and "raised expected" in expected.getMessage()
    assert "Traceback" not in expected.getMessage() and expected.exc_info is None
    [unexpected] = [r for r in caplog.records if "surprise" in r.getMessage()]
    assert unexpected.levelno == logging.ERROR and "Traceback" in unexpected.getMessage()


def test_autoretry_backoff_and_dont_autoretry_for(app: Celery) -> None:
    retries, receiver = _record(signals.task_retry)
    auto = app.tasks["o.auto"]
    try:
        auto.delay("value")
        wait_until(lambda: retries, message="task_retry")
        with pytest.raises(KeyError):
            auto.delay("key").get(timeout=10)
        assert auto.delay("ignore").state == states.PENDING
        wait_until(lambda: RUNS.get("ignore") == 1, message="the ignored run")
    finally:
        signals.task_retry.disconnect(receiver)
    assert retries[0]["reason"].when == 3  # min(retry_backoff_max, 5 * 2**0), no jitter
    assert RUNS["key"] == 1 and len(retries) == 1  # neither KeyError nor Ignore retried


def test_trail_lists_the_tasks_sent_as_children(app: Celery) -> None:
    result = app.tasks["o.parent"].delay()
    assert result.get(timeout=10) == "sent"
    children = result.children or []
    assert len(children) == 2
    assert sorted(c.get(timeout=10) for c in children) == [1, 2]


def test_send_event_broadcasts_a_custom_event_about_the_request(app: Celery) -> None:
    channel = app.transport.channel()
    subscription = channel.subscribe("celeryev", "task.#")  # type: ignore[attr-defined]
    try:
        result = app.tasks["o.progress"].delay()
        result.get(timeout=10)
        bodies = [json.loads(message.body) for message in subscription.get(2.0)]
    finally:
        channel.close()
    [event] = [b for b in bodies if isinstance(b, dict) and b["type"] == "task-progress"]
    assert (event["uuid"], event["current"], event["total"]) == (result.id, 1, 2)
    assert event["hostname"].startswith("celeriac@")


def test_reject_without_requeue_sends_task_failed_then_task_rejected() -> None:
    name = uuid.uuid4().hex
    app = Celery("rejectev", broker=f"memory://{name}", backend=f"cache+memory://{name}")
    app.conf.worker_send_task_events = True

    @app.task(name="ev.reject")
    def reject() -> None:
        raise Reject("no good", requeue=False)

    channel = app.transport.channel()
    subscription = channel.subscribe("celeryev", "task.#")  # type: ignore[attr-defined]
    events: list[dict[str, Any]] = []

    def types_of(task_id: str) -> list[str]:
        for message in subscription.get(0.1):
            body = json.loads(message.body)
            events.extend(body if isinstance(body, list) else [body])
        return [e["type"] for e in events if e.get("uuid") == task_id]

    try:
        with in_process_worker(app, pool="solo"):
            result = reject.delay()
            with pytest.raises(Reject):
                result.get(timeout=10)
            wait_until(lambda: "task-rejected" in types_of(result.id), message="task-rejected")
    finally:
        channel.close()
        app.close()
    assert types_of(result.id)[-2:] == ["task-failed", "task-rejected"]
    failed = next(e for e in events if e["type"] == "task-failed")
    assert failed["exception"].startswith("Reject(")
