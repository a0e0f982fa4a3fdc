"""``celeriac.contrib.migrate`` on real brokers: the suite's private Redis and SQLite files.

Messages are sent by a celeriac app as any client sends them, moved or copied with Celery's
function names, then read back from the destination queues (same bytes) or run by a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.bootsteps import Message
from celeriac.contrib.migrate import (
    State,
    StopFiltering,
    filter_callback,
    filter_status,
    migrate_tasks,
    move,
    move_by_idmap,
    move_by_taskmap,
    move_task_by_id,
    task_id_eq,
    task_id_in,
)
from celeriac.routing import Queue
from celeriac.transport.base import Delivery
from tests.helpers import close_celery_app, flushed_redis, in_process_worker
from tests.suite_redis import suite_redis_url

REDIS = suite_redis_url(14)


def new_app(broker: str, **conf: Any) -> Celery:
    app = Celery("migrate", broker=broker, backend="cache+memory://migrate",
                 set_as_current=False)
    app.conf.update(conf)
    return app


@pytest.fixture
def redis_app() -> Iterator[Celery]:
    with flushed_redis(REDIS):
        app = new_app(REDIS)
        try:
            yield app
        finally:
            app.close()


def drain(app: Celery, queue: str) -> list[Delivery]:
    """Every message waiting in ``queue`` (acknowledged: the test owns them now)."""
    channel = app.transport.channel()
    try:
        got: list[Delivery] = []
        while batch := channel.fetch([queue], 100, 0.2):
            got.extend(batch)
            channel.ack(batch)
        return got
    finally:
        channel.close()


def task_ids(deliveries: list[Delivery]) -> list[str]:
    return sorted(str(delivery.message.task_id) for delivery in deliveries)


def sizes(app: Celery, *queues: str) -> list[int]:
    channel = app.transport.channel()
    try:
        return [channel.size(queue) for queue in queues]
    finally:
        channel.close()


def test_migrate_tasks_moves_redis_queues_to_sqlite_with_renames(
        redis_app: Celery, tmp_path: Path) -> None:
    sent = [redis_app.send_task("proj.add", (i, i)).id for i in range(3)]
    other = redis_app.send_task("proj.add", (9, 9), queue="other", compression="zlib",
                                priority=3).id
    before = {str(d.message.task_id): d.message for d in _peek(redis_app, ["celery", "other"])}
    dest = new_app(f"sqlite:///{tmp_path / 'broker.db'}")
    try:
        state = migrate_tasks(REDIS, dest.connection(), app=redis_app,
                              queues=["celery", "other:moved"], ack_messages=True)
        assert (state.count, state.total_apx) == (4, 4)
        assert sizes(redis_app, "celery", "other") == [0, 0]
        in_celery = {str(d.message.task_id): d.message for d in drain(dest, "celery")}
        moved = drain(dest, "moved")
        assert sorted(in_celery) == sorted(sent)
        assert [d.message.task_id for d in moved] == [other]
        for message in [*in_celery.values(), moved[0].message]:
            original = before[str(message.task_id)]
            assert message.body == original.body  # still zlib-compressed, byte for byte
            # the peek above handed the originals back: the broker marked them redelivered
            assert message.headers == {**original.headers, "redelivered": True}
            assert message.content_type == original.content_type
        assert moved[0].message.headers["compression"] == "application/x-gzip"
        assert moved[0].message.properties.get("priority") == 3
    finally:
        dest.close()


def _peek(app: Celery, queues: list[str]) -> list[Delivery]:
    """The messages of ``queues``, handed back after reading."""
    channel = app.transport.channel()
    try:
        got = channel.fetch(queues, 100, 0.5)
        channel.reject(got, requeue=True)
        return got
    finally:
        channel.close()


def test_migrated_tasks_run_on_the_destination_worker(redis_app: Celery, tmp_path: Path) -> None:
    redis_app.send_task("proj.mul", (6, 7), task_id="the-task")
    dest = Celery("migrate", broker=f"sqlite:///{tmp_path / 'broker.db'}",
                  backend=f"sqlite:///{tmp_path / 'results.db'}", set_as_current=False)

    @dest.task(name="proj.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    try:
        migrate_tasks(redis_app.connection(), f"sqlite:///{tmp_path / 'broker.db'}",
                      app=redis_app, ack_messages=True)
        with in_process_worker(dest, pool="solo"):
            assert dest.AsyncResult("the-task").get(timeout=30) == 42
    finally:
        dest.close()


def test_migrate_without_ack_copies_and_limit_tasks_callback(
        redis_app: Celery, tmp_path: Path) -> None:
    for i in range(4):
        redis_app.send_task("proj.a" if i % 2 else "proj.b", (i,))
    dest = new_app(f"sqlite:///{tmp_path / 'broker.db'}")
    seen: list[tuple[int, str]] = []

    def callback(state: State, body: Any, message: Message) -> None:
        seen.append((state.count, message.headers["task"]))

    try:
        state = migrate_tasks(REDIS, dest.connection(), app=redis_app, tasks="proj.a",
                              callback=callback)
        assert seen == [(1, "proj.a"), (2, "proj.a")]
        assert repr(state) == "2/4"
        assert sizes(redis_app, "celery") == [4]  # copied, not moved
        assert sizes(dest, "celery") == [2]
        migrate_tasks(REDIS, dest.connection(), app=redis_app, limit=1, ack_messages=True)
        assert sizes(redis_app, "celery") == [3]
        assert sizes(dest, "celery") == [3]
    finally:
        dest.close()


def test_move_task_by_id_between_queues_of_one_broker(redis_app: Celery) -> None:
    ids = [redis_app.send_task("proj.add", (i, i)).id for i in range(3)]
    state = move_task_by_id(ids[1], Queue("hipri"), app=redis_app)
    assert state.filtered == 1
    assert [d.message.task_id for d in drain(redis_app, "hipri")] == [ids[1]]
    assert task_ids(drain(redis_app, "celery")) == sorted(
        [ids[0], ids[2]])


def test_move_by_idmap_and_taskmap_take_queue_names_or_queues(redis_app: Celery) -> None:
    a = [redis_app.send_task("proj.a", ()).id for _ in range(2)]
    b = redis_app.send_task("proj.b", ()).id
    c = redis_app.send_task("proj.c", ()).id
    move_by_taskmap({"proj.a": "qa", "proj.b": Queue("qb")}, app=redis_app)
    assert task_ids(drain(redis_app, "qa")) == sorted(a)
    assert [d.message.task_id for d in drain(redis_app, "qb")] == [b]
    move_by_idmap({c: "qc"}, app=redis_app, source=["celery"])
    assert [d.message.task_id for d in drain(redis_app, "qc")] == [c]
    assert drain(redis_app, "celery") == []


def test_move_with_a_predicate_tuple_transform_and_callback(
        redis_app: Celery, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [redis_app.send_task("proj.add", (i, i)).id for i in range(4)]
    moved: list[str] = []

    def callback(state: State, body: Any, message: Message) -> None:
        moved.append(message.headers["id"])
        filter_status(state, body, message)

    state = move(lambda body, message: task_id_in(set(ids[:3]), body, message),
                 transform=lambda _: ("", "elsewhere"), callback=callback, limit=2,
                 app=redis_app)
    assert state.filtered == 2 and len(moved) == 2
    assert "Moving task 1/4: proj.add[" in capsys.readouterr().out
    assert task_ids(drain(redis_app, "elsewhere")) == sorted(moved)
    # A plain true value: the message goes where exchange=/routing_key= say.
    last = move(partial(task_id_eq, ids[3]), routing_key="last", app=redis_app)
    assert last.filtered == 1
    assert [d.message.task_id for d in drain(redis_app, "last")] == [ids[3]]
    assert len(drain(redis_app, "celery")) == 1


def test_a_filter_may_stop_the_pass_and_undecodable_messages_stay(redis_app: Celery) -> None:
    redis_app.send_task("proj.add", (1, 1), serializer="pickle")
    for i in range(3):
        redis_app.send_task("proj.add", (i, i))
    calls: list[Any] = []

    def stop_at_second(body: Any, message: Message) -> None:
        calls.append(body)
        if len(calls) == 2:
            raise StopFiltering()

    move(stop_at_second, app=redis_app)  # the pickle message is not decoded (not accepted)
    assert len(calls) == 2 and all(isinstance(body, list) for body in calls)
    assert sizes(redis_app, "celery") == [4]  # nothing was acked: all handed back


def test_the_migrate_command_moves_between_two_sqlite_brokers(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from celeriac.cli.main import cli

    source_url, dest_url = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    source, dest = new_app(source_url), new_app(dest_url)
    try:
        ids = [source.send_task("proj.a" if i else "proj.b", (i,), queue="work").id
               for i in range(3)]
        result = CliRunner().invoke(cli, ["migrate", source_url, dest_url, "-Q", "work:done",
                                          "-T", "proj.a", "--ack-messages", "-t", "0.2"],
                                    obj=None, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert result.output.count("Migrating task") == 2
        assert f"proj.a[{ids[1]}]" in result.output
        assert task_ids(drain(dest, "done")) == sorted(ids[1:])
        assert task_ids(drain(source, "work")) == [ids[0]]
    finally:
        source.close()
        dest.close()


def test_a_message_celery_sent_is_moved_and_read_back_by_kombu(redis_app: Celery) -> None:
    celery = pytest.importorskip("celery")

    theirs = celery.Celery("migrate", broker=REDIS, set_as_current=False)
    try:
        sent = theirs.send_task("proj.a", (1, 2), kwargs={"k": "v"}, compression="zlib")
        theirs.send_task("proj.b", (3,))
        state = move_by_taskmap({"proj.a": "moved"}, app=redis_app)
        assert state.filtered == 1
        with theirs.connection_for_read() as conn:
            queue = conn.SimpleQueue("moved")
            try:
                message = queue.get(timeout=5)
                assert message.headers["id"] == sent.id
                assert message.headers["compression"] == "application/x-gzip"
                assert message.decode() == [[1, 2], {"k": "v"},
                                            {"callbacks": None, "errbacks": None,
                                             "chain": None, "chord": None}]
                message.ack()
            finally:
                queue.close()
        assert [d.message.task_name for d in drain(redis_app, "celery")] == ["proj.b"]
    finally:
        close_celery_app(theirs)


def test_migrating_a_queue_onto_itself_is_refused(redis_app: Celery) -> None:
    redis_app.send_task("proj.add", (1, 1))
    with pytest.raises(ValueError, match="celery would be migrated onto themselves"):
        migrate_tasks(REDIS, REDIS, app=redis_app)
    state = migrate_tasks(REDIS, REDIS, app=redis_app, queues="celery:renamed",
                          ack_messages=True)
    assert state.count == 1
    assert sizes(redis_app, "celery", "renamed") == [0, 1]


def test_filter_callback_keeps_the_named_tasks(redis_app: Celery) -> None:
    redis_app.send_task("proj.a", ())
    redis_app.send_task("proj.b", ())
    seen: list[str] = []
    move(filter_callback(lambda body, message: seen.append(message.headers["task"]),
                         {"proj.b"}), app=redis_app)
    assert seen == ["proj.b"]
