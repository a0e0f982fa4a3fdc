"""Celery's app API on celeriac's app: connections, configuration methods, signals, registry,
loader, log, ``Worker``, ``subclass_with_self``, ``bugreport`` (in process, memory://)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from celeriac import Celery, Task
from celeriac.app.broker_connection import BrokerConnection
from celeriac.app.loader import Loader
from celeriac.app.raw_producer import RawProducer
from celeriac.exceptions import (
    ImproperlyConfigured,
    InvalidTaskError,
    NotRegistered,
    OperationalError,
)
from celeriac.worker.worker import Worker


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("api", broker="memory://", set_as_current=False)
    yield app
    app.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- connections ------------------------------------------------------------------------------
def test_raw_publish_reaches_the_queue_as_the_same_value(app: Celery) -> None:
    with app.connection() as conn:
        assert conn.ensure_connection(max_retries=3) is conn
        conn.Producer().publish({"a": [1, 2]}, routing_key="raw_q", headers={"h": 1},
                                priority=3)
        deliveries = conn.default_channel.fetch(["raw_q"], 10, 1.0)
    assert len(deliveries) == 1
    message = deliveries[0].message
    assert message.content_type == "application/json"
    assert message.headers["h"] == 1
    assert message.properties["priority"] == 3
    import json

    assert json.loads(message.body) == {"a": [1, 2]}


def test_unreachable_broker_raises_operational_error_after_the_retries() -> None:
    app = Celery("down", broker=f"redis://:hush@127.0.0.1:{_closed_port()}/0",
                 set_as_current=False)
    waits: list[float] = []
    try:
        with pytest.raises(OperationalError) as caught, app.connection() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0, interval_step=0.01,
                                   errback=lambda exc, interval: waits.append(interval))
        assert waits == [0.0, 0.01]
        assert "hush" not in str(caught.value)
        assert "hush" not in conn.as_uri() and "hush" in conn.as_uri(include_password=True)
    finally:
        app.close()


def test_connection_refuses_arguments_it_would_ignore(app: Celery) -> None:
    with pytest.raises(TypeError, match="userid"):
        app.connection(userid="guest")
    assert isinstance(app.connection_for_read(), BrokerConnection)
    assert isinstance(app.connection_for_write(), BrokerConnection)
    assert app.broker_connection().url == app.broker_url


def test_acquire_helpers_yield_the_given_object_or_a_fresh_one(app: Celery) -> None:
    mine = app.connection()
    with app.connection_or_acquire(mine) as conn:
        assert conn is mine
    with app.connection_or_acquire() as conn:
        assert isinstance(conn, BrokerConnection) and conn is not mine
    with app.producer_or_acquire() as producer:
        assert isinstance(producer, RawProducer)
        with app.producer_or_acquire(producer) as same:
            assert same is producer
    pooled = app.pool.acquire(block=True, timeout=1)
    app.pool.release(pooled)
    assert isinstance(app.amqp.producer_pool.acquire(), RawProducer)
    assert app.conf.task_default_queue in app.amqp.queues
    assert app.amqp.router is app.router


# -- configuration ----------------------------------------------------------------------------
def test_config_from_cmdline_types_values_as_the_settings(app: Celery) -> None:
    app.config_from_cmdline(["worker_concurrency=3", "task_always_eager=yes",
                             "task_routes=(json){\"a\": \"b\"}", ".x_y=z"])
    assert app.conf.worker_concurrency == 3
    assert app.conf.task_always_eager is True
    assert app.conf.task_routes == {"a": "b"}
    assert app.conf["celery_x_y"] == "z"
    with pytest.raises(ValueError, match="worker_concurrency"):
        app.config_from_cmdline(["worker_concurrency=many"])


def test_add_defaults_never_overrides_explicit_settings(app: Celery) -> None:
    app.conf.task_default_queue = "mine"
    app.add_defaults({"task_default_queue": "theirs", "task_default_priority": 4})
    app.add_defaults(lambda: {"result_expires": 10})
    assert app.conf.task_default_queue == "mine"
    assert app.conf.task_default_priority == 4
    assert app.conf.result_expires == 10


def test_config_from_envvar(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERIAC_TEST_CONFIG", raising=False)
    assert app.config_from_envvar("CELERIAC_TEST_CONFIG", silent=True) is False
    with pytest.raises(ImproperlyConfigured, match="CELERIAC_TEST_CONFIG"):
        app.config_from_envvar("CELERIAC_TEST_CONFIG")
    monkeypatch.setenv("CELERIAC_TEST_CONFIG", "tests.unit.fixtures.envvar_config")
    app.config_from_envvar("CELERIAC_TEST_CONFIG", force=True)
    assert app.conf.task_default_queue == "from_envvar"


def test_app_signals_fire_once_in_celerys_order(app: Celery) -> None:
    seen: list[tuple[str, Any]] = []
    app.on_configure.connect(lambda sender, **kw: seen.append(("configure", sender)),
                             weak=False)
    app.on_after_configure.connect(
        lambda sender, source, **kw: seen.append(("after_configure", source)), weak=False)
    app.on_after_finalize.connect(lambda sender, **kw: seen.append(("finalize", sender)),
                                  weak=False)
    app.finalize()
    app.finalize()
    assert seen == [("configure", app), ("after_configure", app.conf), ("finalize", app)]
    assert app.finalized


# -- tasks -----------------------------------------------------------------------------------
def test_task_registry_behaves_as_celerys(app: Celery) -> None:
    @app.task(name="api.plain")
    def plain() -> None:
        return None

    class Periodic(app.Task):  # type: ignore[name-defined,misc]  # app.Task is dynamic
        name = "api.periodic"
        type = "periodic"

        def run(self) -> None:
            return None

    app.tasks.register(Periodic)
    assert "api.plain" in app.tasks.regular()
    assert list(app.tasks.periodic()) == ["api.periodic"]
    with pytest.raises(NotRegistered):
        app.tasks["api.missing"]
    with pytest.raises(KeyError):
        app.tasks["api.missing"]
    app.tasks.unregister(plain)
    with pytest.raises(app.tasks.NotRegistered):
        app.tasks.unregister("api.plain")

    class Nameless(Task[Any, Any]):
        name = None  # type: ignore[assignment]

    with pytest.raises(InvalidTaskError):
        app.tasks.register(Nameless)


def test_subclass_with_self_binds_the_app(app: Celery) -> None:
    class Helper:
        app: Any = None
        """Helper docs."""

    bound = app.subclass_with_self(Helper)
    assert bound.app is app and issubclass(bound, Helper) and bound.__name__ == "Helper"
    renamed = app.subclass_with_self(Helper, name="Other", attribute="_app")
    assert renamed._app is app and renamed.__name__ == "Other"
    assert app.subclass_with_self("celeriac.app.loader:Loader").app is app


# -- components ------------------------------------------------------------------------------
class RecordingLoader(Loader):
    calls: ClassVar[list[str]] = []

    def on_worker_init(self) -> None:
        self.calls.append("init")

    def on_worker_shutdown(self) -> None:
        self.calls.append("shutdown")


def test_custom_loader_hooks_and_default_modules() -> None:
    app = Celery("loaded", broker="memory://", set_as_current=False,
                 loader=RecordingLoader, include=["json"])
    try:
        assert isinstance(app.loader, RecordingLoader)
        assert app.loader.conf is app.conf
        assert app.loader.default_modules == ("json",)
        app.loader.init_worker()
        app.loader.init_worker()
        app.loader.shutdown_worker()
        assert RecordingLoader.calls == ["init", "shutdown"]
        assert app.loader.now().tzinfo is not None
    finally:
        app.close()


def test_log_and_bugreport(app: Celery) -> None:
    assert app.log.get_default_logger() is logging.getLogger("celery")
    secret = Celery("bug", broker="redis://:topsecret@localhost/0",
                    backend="redis://:topsecret@localhost/1", set_as_current=False)
    try:
        report = secret.bugreport()
    finally:
        secret.close()
    assert "celeriac" in report and "topsecret" not in report
    assert "transport:redis" in report


def test_app_worker_maps_celerys_keywords(app: Celery) -> None:
    worker = app.Worker(hostname="w1@host", pool_cls="solo", concurrency=1,
                        queues="a, b")
    assert isinstance(worker, Worker)
    assert worker.app is app and worker.hostname == "w1@host"
    assert worker.queues == ["a", "b"] and worker.options.pool == "solo"
    assert app.Worker is app.Worker
    with pytest.raises(TypeError, match="pidfile"):
        app.Worker(pidfile="/tmp/x.pid")


def test_user_options_refuse_what_the_cli_would_ignore(app: Celery) -> None:
    with pytest.raises(NotImplementedError, match="preload"):
        app.user_options["preload"].add(object())
    import click

    from celeriac.cli.user_options import parse_user_options

    with pytest.raises(click.UsageError, match="--nope"):
        parse_user_options(app, "worker", ["--nope"])
    app.user_options["worker"].add(click.Option(["--greeting"], default="hi"))
    assert parse_user_options(app, "worker", []) == {"greeting": "hi"}
    assert parse_user_options(app, "worker", ["--greeting", "yo"]) == {"greeting": "yo"}
    with pytest.raises(click.UsageError, match="--nope"):
        parse_user_options(app, "worker", ["--nope"])
    app.steps["worker"].add(Loader)  # plain sets: read by the worker
    assert Loader in app.steps["worker"]


def test_now_is_aware_in_the_app_timezone(app: Celery) -> None:
    app.conf.timezone = "Europe/Paris"
    assert str(app.timezone) == "Europe/Paris"
    assert app.now().utcoffset() == app.now().astimezone(app.timezone).utcoffset()


# -- control ---------------------------------------------------------------------------------
def test_control_takes_a_connection_only_to_the_apps_broker(app: Celery) -> None:
    app.send_task("api.anything")
    with app.connection() as conn:
        assert app.control.purge(connection=conn) == 1
    elsewhere = BrokerConnection(app, "redis://:pw@127.0.0.1:1/0")
    with pytest.raises(ValueError, match="own broker"):
        app.control.purge(connection=elsewhere)
    with pytest.raises(ValueError, match="own broker"):
        app.control.broadcast("ping", connection=elsewhere)
    with pytest.raises(ValueError, match="own broker"):
        app.control.election("id", "topic", connection=elsewhere)


def test_smaller_app_api(app: Celery) -> None:
    assert app.configured and app.uses_utc_timezone()
    assert app.either("task_default_queue") == "celery"
    assert app.either("task_default_queue", None, "q") == "q"
    assert app.current_task is None and app.current_worker_task is None
    assert app.clock.forward() == app.clock.value
    assert app.thread_oid == app.thread_oid
    assert issubclass(app.create_task_cls(), Task)
    assert app.ResultSet([]).results == []
    with pytest.raises(NotImplementedError, match="signing"):
        app.setup_security()
    inits: list[str] = []

    class Sub(Celery):
        def on_init(self) -> None:
            inits.append(self.main or "")

    Sub("sub", broker="memory://", set_as_current=False).close()
    assert inits == ["sub"]
    from celeriac.exceptions import CeleriacWarning

    with pytest.warns(CeleriacWarning, match="autofinalize"):
        Celery("nofinal", broker="memory://", set_as_current=False, autofinalize=False).close()


def test_app_beat_runs_the_schedule_until_stopped(tmp_path: Any) -> None:
    import threading

    from tests.helpers import wait_until

    app = Celery("beaty", broker=f"sqlite:///{tmp_path / 'b.db'}", set_as_current=False)
    app.conf.beat_schedule = {"tick": {"task": "beaty.tick", "schedule": 0.2}}
    beat = app.Beat(schedule=str(tmp_path / "schedule"), max_interval=0.2)
    assert beat.app is app
    runner = threading.Thread(target=beat.run)
    runner.start()
    try:
        with app.connection() as conn:
            wait_until(lambda: conn.default_channel.size("celery") > 0, timeout=20)
    finally:
        beat.stop()
        runner.join(20)
        app.close()
    assert not runner.is_alive()
    with pytest.raises(TypeError, match="pidfile"):
        app.Beat(pidfile="x")


def test_publish_to_an_exchange_reaches_the_declared_queues_bound_to_it(app: Celery) -> None:
    from celeriac import Exchange, Queue

    topic = Exchange("news", type="topic")
    sports, weather = Queue("sports", topic, "news.sports.#"), Queue("weather", topic, "*.w")
    with app.producer_or_acquire() as producer:
        producer.publish({"goal": 1}, exchange=topic, routing_key="news.sports.football",
                         declare=[sports, weather], compression="zlib", expiration=5,
                         retry=True, retry_policy={"max_retries": 1})
        with pytest.raises(TypeError, match="mandatory"):
            producer.publish({}, routing_key="sports", mandatory=True)
    with app.connection() as conn:
        channel = conn.default_channel
        assert channel.size("weather") == 0
        [delivery] = channel.fetch(["sports"], 10, 1.0)
    message = delivery.message
    assert message.headers["compression"] == "application/x-gzip"
    assert message.properties["expiration"] == "5000"
    from celeriac.bootsteps import Message

    assert Message(channel, delivery, frozenset({"application/json"})).decode() == {"goal": 1}


def test_loader_aliases_of_celery() -> None:
    for alias in ("app", "default"):
        app = Celery("alias", broker="memory://", set_as_current=False, loader=alias)
        try:
            assert type(app.loader) is Loader
        finally:
            app.close()


def test_on_after_fork_fires_in_the_child(app: Celery) -> None:
    import os

    read_end, write_end = os.pipe()
    app.on_after_fork.connect(lambda sender, **kw: os.write(write_end, b"forked"), weak=False)
    pid = os.fork()
    if pid == 0:  # the child: the receiver ran at fork; leave at once
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write_end)
    try:
        assert os.read(read_end, 16) == b"forked"
    finally:
        os.close(read_end)


def test_a_loader_overriding_a_hook_the_worker_never_calls_is_told() -> None:
    from celeriac.app.loader import Loader

    with pytest.warns(UserWarning, match="on_task_init is never called"):
        class PerTaskLoader(Loader):
            def on_task_init(self, task_id: str, task: Any) -> None:
                pass

    class WorkerInitLoader(Loader):  # a hook the worker does call: no warning
        def on_worker_init(self) -> None:
            pass
