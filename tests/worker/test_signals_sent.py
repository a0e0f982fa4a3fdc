"""Every signal celeriac defines is sent, where Celery sends it and with Celery's arguments.

Tracing and APM integrations (OpenTelemetry's Celery instrumentation, Sentry, statsd
exporters) connect to these by name and read their keyword arguments, so the argument names
are part of the contract. The worker runs in-process on ``memory://``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import celeriac
from celeriac import Celery, signals
from celeriac.beat.embedded import BeatService
from celeriac.exceptions import InvalidMessage, NotRegistered
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from celeriac.utils.dispatch import Signal
from celeriac.worker.consumer import Consumer
from celeriac.worker.worker import Worker
from tests.helpers import in_process_worker, wait_until

SOURCE = Path(celeriac.__file__).parent
DEFINED = sorted(name for name, value in vars(signals).items() if isinstance(value, Signal))


def test_every_defined_signal_has_a_sender_in_the_code() -> None:
    code = "\n".join(path.read_text() for path in SOURCE.rglob("*.py")
                     if path.name != "signals.py")
    unsent = [name for name in DEFINED if not re.search(rf"\b{name}\.send\(", code)]
    assert DEFINED and unsent == []


Calls = list[tuple[str, dict[str, Any]]]


@contextmanager
def recording(*watched: Signal, sender: Any = None,
              then: Callable[[str, dict[str, Any]], None] | None = None) -> Iterator[Calls]:
    """Record every send of ``watched`` as ``(signal name, kwargs)``; disconnect on exit."""
    calls: Calls = []
    receivers = []
    for signal in watched:
        def receiver(signal: Signal, **kwargs: Any) -> None:
            calls.append((signal.name, kwargs))
            if then is not None:
                then(signal.name, kwargs)

        signal.connect(receiver, sender=sender, weak=False)
        receivers.append((signal, receiver))
    try:
        yield calls
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)


def named(calls: Calls, name: str) -> list[dict[str, Any]]:
    return [kwargs for signal_name, kwargs in calls if signal_name == name]


def make_app() -> Celery:
    name = uuid.uuid4().hex
    app = Celery("signals", broker=f"memory://{name}", backend=f"cache+memory://{name}")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="proj.traced", bind=True)
    def traced(self: Any) -> list[Any]:
        return [getattr(self.request, "traceparent", None), self.request.headers.get("traceparent")]

    return app


@contextmanager
def running(app: Celery) -> Iterator[Worker]:
    with in_process_worker(app, pool="threads", concurrency=2, hostname="sig@test") as worker:
        yield worker


@pytest.fixture
def app() -> Iterator[Celery]:
    app = make_app()
    with running(app):
        yield app


def test_publish_signals_carry_celerys_arguments_and_header_changes_travel(app: Celery) -> None:
    def inject(name: str, kwargs: dict[str, Any]) -> None:
        if name == "before_task_publish":  # what OpenTelemetry's instrumentation does
            kwargs["headers"]["traceparent"] = "00-trace-span-01"

    with recording(signals.before_task_publish, signals.after_task_publish,
                   then=inject) as calls:
        result = app.send_task("proj.traced")
        assert result.get(timeout=10) == ["00-trace-span-01", "00-trace-span-01"]
    before, after = named(calls, "before_task_publish"), named(calls, "after_task_publish")
    assert [c["sender"] for c in before + after] == ["proj.traced", "proj.traced"]
    assert set(before[0]) == {"sender", "body", "exchange", "routing_key", "headers",
                              "properties", "declare", "retry_policy"}
    assert set(after[0]) == {"sender", "body", "exchange", "routing_key", "headers"}
    assert before[0]["headers"]["id"] == result.id
    args, kwargs, embed = before[0]["body"]
    assert (args, kwargs, set(embed)) == ([], {}, {"callbacks", "errbacks", "chain", "chord"})
    assert (before[0]["exchange"], before[0]["routing_key"]) == ("", "celery")


def test_a_receiver_for_one_task_name_hears_only_that_task(app: Celery) -> None:
    wanted = ".".join(["proj", "add"])  # built at run time: matched by value, as in Celery
    with recording(signals.after_task_publish, sender=wanted) as calls:
        app.send_task("proj.traced").get(timeout=10)
        app.send_task("proj.add", (1, 2)).get(timeout=10)
    assert [c["sender"] for c in named(calls, "after_task_publish")] == ["proj.add"]


def test_delay_many_sends_the_publish_signals_per_message(app: Celery) -> None:
    with recording(signals.before_task_publish, signals.after_task_publish) as calls:
        results = app.tasks["proj.add"].delay_many([(1, 1), (2, 2)])
        assert [r.get(timeout=10) for r in results] == [2, 4]
    ids = [r.id for r in results]
    assert [c["headers"]["id"] for c in named(calls, "before_task_publish")] == ids
    assert [c["body"][0] for c in named(calls, "before_task_publish")] == [[1, 1], [2, 2]]
    assert [c["headers"]["id"] for c in named(calls, "after_task_publish")] == ids[::-1]


def test_task_received_has_the_consumer_and_a_request(app: Celery) -> None:
    with recording(signals.task_received) as calls:
        result = app.send_task("proj.add", (2, 3))
        assert result.get(timeout=10) == 5
    (received,) = named(calls, "task_received")
    request = received["request"]
    assert isinstance(received["sender"], Consumer)
    assert (request.id, request.name, request.args, request.kwargs) == (
        result.id, "proj.add", [2, 3], {})


def test_task_unknown_names_the_task_and_id(app: Celery) -> None:
    with recording(signals.task_unknown) as calls:
        result = app.send_task("proj.nobody_has_this")
        wait_until(lambda: named(calls, "task_unknown"), 10, message="task_unknown")
    (unknown,) = named(calls, "task_unknown")
    assert isinstance(unknown["sender"], Consumer)
    assert (unknown["name"], unknown["id"]) == ("proj.nobody_has_this", result.id)
    assert isinstance(unknown["exc"], NotRegistered)
    assert isinstance(unknown["message"], TaskMessage)


def test_task_rejected_for_a_message_that_cannot_be_read(app: Celery) -> None:
    message = TaskMessage(headers={"task": "proj.add", "id": uuid.uuid4().hex},
                          properties={}, body=b'"not [args, kwargs, embed]"')
    with recording(signals.task_rejected) as calls:
        app.producer.publish(Outbound(message, routing_key="celery"))
        wait_until(lambda: named(calls, "task_rejected"), 10, message="task_rejected")
    (rejected,) = named(calls, "task_rejected")
    assert isinstance(rejected["sender"], Consumer)
    assert rejected["message"].headers["id"] == message.headers["id"]
    assert isinstance(rejected["exc"], InvalidMessage)


def test_worker_start_up_signals_come_in_celerys_order_with_its_arguments() -> None:
    app = make_app()
    watched = (signals.import_modules, signals.celeryd_init, signals.worker_init,
               signals.celeryd_after_setup, signals.worker_ready)
    with recording(*watched) as calls, running(app) as worker:
        wait_until(lambda: named(calls, "worker_ready"), 10, message="worker_ready")
    assert [name for name, _ in calls] == [
        "celeryd_init", "import_modules", "worker_init", "celeryd_after_setup", "worker_ready"]
    init, imports, _, after_setup, _ = (kwargs for _, kwargs in calls)
    assert (init["sender"], init["instance"], init["conf"]) == ("sig@test", worker, app.conf)
    assert init["options"]["concurrency"] == 2
    assert imports["sender"] is app
    assert named(calls, "worker_init")[0]["sender"] is worker
    assert (after_setup["sender"], after_setup["instance"], after_setup["conf"]) == (
        "sig@test", worker, app.conf)


def test_worker_shutting_down_names_the_node_and_how_as_celery_does() -> None:
    app = make_app()
    watched = (signals.worker_shutting_down, signals.worker_shutdown)
    with recording(*watched) as calls, running(app) as worker:
        assert app.send_task("proj.add", (1, 1)).get(timeout=10) == 2
    app.close()
    assert [name for name, _ in calls] == ["worker_shutting_down", "worker_shutdown"]
    shutting_down = named(calls, "worker_shutting_down")[0]
    assert (shutting_down["sender"], shutting_down["how"], shutting_down["exitcode"]) == (
        "sig@test", "Warm", 0)
    assert "sig" in shutting_down
    assert named(calls, "worker_shutdown")[0]["sender"] is worker


def test_a_worker_task_failure_passes_an_exception_info(app: Celery) -> None:
    with recording(signals.task_failure) as calls:
        result = app.send_task("proj.add", ("a", 1))
        with pytest.raises(TypeError):
            result.get(timeout=10)
        wait_until(lambda: named(calls, "task_failure"), 10, message="task_failure")
    einfo = named(calls, "task_failure")[0]["einfo"]
    assert einfo.type is TypeError and "TypeError" in einfo.traceback


def test_the_solo_pool_sends_worker_process_init_with_the_node_name() -> None:
    app = make_app()
    with recording(signals.worker_process_init) as calls, \
            in_process_worker(app, pool="solo", hostname="solo@test"):
        assert app.send_task("proj.add", (1, 1)).get(timeout=10) == 2
    app.close()
    assert [kwargs["sender"] for _, kwargs in calls] == ["solo@test"]


def test_prefork_children_send_worker_process_init_with_the_node_name(tmp_path: Path) -> None:
    app = make_app()
    marker = tmp_path / "senders"

    def on_init(sender: Any = None, **_: Any) -> None:  # runs in each child
        with open(marker, "a") as handle:
            handle.write(f"{sender}\n")

    signals.worker_process_init.connect(on_init, weak=False)
    try:
        with in_process_worker(app, pool="prefork", concurrency=2, hostname="fork@test"):
            assert app.send_task("proj.add", (1, 1)).get(timeout=30) == 2
            wait_until(lambda: marker.exists() and len(marker.read_text().split()) == 2, 30,
                       message="both children to start")
    finally:
        signals.worker_process_init.disconnect(on_init)
        app.close()
    assert marker.read_text().split() == ["fork@test", "fork@test"]


def test_an_import_modules_receiver_that_raises_stops_the_start_up() -> None:
    app = make_app()

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("no imports today")

    signals.import_modules.connect(refuse, weak=False)
    try:
        with pytest.raises(RuntimeError, match="no imports today"):
            app.loader_import_modules()
    finally:
        signals.import_modules.disconnect(refuse)


def test_embedded_beat_sends_beat_init_then_beat_embedded_init(tmp_path: Path) -> None:
    app = make_app()
    service = BeatService(app, str(tmp_path / "schedule"), max_interval=1)
    with recording(signals.beat_init, signals.beat_embedded_init) as calls:
        service.start()
        try:
            wait_until(lambda: len(calls) == 2, 10, message="the beat signals")
        finally:
            service.stop()
    assert [name for name, _ in calls] == ["beat_init", "beat_embedded_init"]
    assert all(kwargs["sender"] is service.scheduler for _, kwargs in calls)
    app.close()


# -- eager mode: the task signals a worker would send ------------------------------------


@pytest.fixture
def eager_app() -> Iterator[Celery]:
    app = make_app()
    app.conf.task_always_eager = True

    @app.task(name="proj.fail")
    def fail() -> None:
        raise ValueError("boom")

    @app.task(name="proj.again", bind=True, max_retries=1)
    def again(self: Any) -> None:
        raise self.retry(countdown=1)

    yield app
    app.close()


TASK_SIGNALS = (signals.task_prerun, signals.task_postrun, signals.task_success,
                signals.task_failure, signals.task_retry)


def test_eager_success_sends_prerun_success_postrun(eager_app: Celery) -> None:
    with recording(*TASK_SIGNALS) as calls:
        result = eager_app.tasks["proj.add"].delay(2, 2)
    assert [name for name, _ in calls] == ["task_prerun", "task_success", "task_postrun"]
    prerun, success, postrun = (kwargs for _, kwargs in calls)
    assert (prerun["task_id"], list(prerun["args"]), prerun["task"].name) == (
        result.id, [2, 2], "proj.add")
    assert success["result"] == 4
    assert (postrun["state"], postrun["retval"]) == ("SUCCESS", 4)


def test_eager_failure_sends_task_failure_with_celerys_arguments(eager_app: Celery) -> None:
    with recording(*TASK_SIGNALS) as calls:
        eager_app.tasks["proj.fail"].delay()
    assert [name for name, _ in calls] == ["task_prerun", "task_failure", "task_postrun"]
    failure = named(calls, "task_failure")[0]
    assert set(failure) == {"sender", "task_id", "exception", "args", "kwargs", "traceback",
                            "einfo"}
    assert isinstance(failure["exception"], ValueError)
    einfo = failure["einfo"]  # Celery's ExceptionInfo attributes, and still the text
    assert (einfo.type, einfo.exception) == (ValueError, failure["exception"])
    assert "ValueError: boom" in einfo.traceback and "ValueError: boom" in str(einfo)
    assert named(calls, "task_postrun")[0]["state"] == "FAILURE"


def test_eager_retry_sends_task_retry(eager_app: Celery) -> None:
    with recording(*TASK_SIGNALS) as calls:
        eager_app.tasks["proj.again"].apply()
    # As Celery's eager retry: the retry is run again here, and max_retries=1 ends it.
    assert [name for name, _ in calls] == ["task_prerun", "task_retry", "task_postrun",
                                           "task_prerun", "task_failure", "task_postrun"]
    assert named(calls, "task_retry")[0]["request"].task == "proj.again"
    assert [c["state"] for c in named(calls, "task_postrun")] == ["RETRY", "FAILURE"]


def test_heartbeat_sent_follows_each_worker_heartbeat(app: Celery) -> None:
    with recording(signals.heartbeat_sent) as calls, \
            in_process_worker(app, pool="solo", hostname="beat@test",
                              heartbeat_interval=0.05):
        wait_until(lambda: len(calls) >= 2, message="two heartbeats")
    assert all(name == "heartbeat_sent" for name, _ in calls)
