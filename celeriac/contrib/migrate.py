"""Message migration tools (broker <-> broker), as Celery's ``celery.contrib.migrate``,
built on celeriac's transports instead of kombu.

``source``/``dest``/``connection`` are broker URLs or ``app.connection()`` objects
(``BrokerConnection``), so one call can move messages from Redis to SQLite, or between two
queues of one broker. Messages travel untouched: the same headers, properties and encoded
(possibly compressed) body, so Celery workers read them as before.

Where celeriac differs from Celery (and why):

* ``migrate_task`` puts a message into the queue it came from (or its ``queues=`` rename) on
  the destination, through the default exchange. Celery re-sent it to the original
  exchange, which a destination broker without that exchange's bindings (Redis, SQLite) would
  drop.
* ``task_id_eq``/``task_id_in``, ``tasks=`` and ``move_by_taskmap`` read the task id and
  name from the message headers (protocol 2) and fall back to the body (protocol 1); Celery
  reads ``body['id']``, which fails on a protocol 2 body (a list).
* with ``limit=`` and ``ack_messages=True``, the last message is acknowledged too (Celery
  stops before acknowledging it, so it is both moved and left behind).
* a message that cannot be decoded (e.g. pickle when ``accept_content`` does not allow it)
  is logged and left where it was; pass ``accept=['pickle', 'json']`` to move such messages.
* ``move`` returns the ``State`` it counted moves on (``filtered``); Celery's returns
  another one, whose ``filtered`` stays 0.
* migrating a queue onto itself (same broker, no rename) raises ``ValueError``; Celery
  would fetch its own copies again until stopped.
* ``move_direct*`` are not offered: celeriac has no ``worker_direct`` queues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from celeriac.app.broker_connection import BrokerConnection
from celeriac.app.raw_producer import RawProducer, as_queue
from celeriac.contrib.migrate_filter import (
    Filterer,
    State,
    StopFiltering,
    prepare_queues,
    queue_names,
    start_filter,
    task_id_of,
    task_name_of,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.bootsteps import Message

MOVING_PROGRESS_FMT = """\
Moving task {state.filtered}/{state.strtotal}: \
{task}[{id}]\
"""

#: Properties that describe one broker's delivery, not the message: never re-sent.
_DELIVERY_PROPERTIES = ("delivery_info", "delivery_tag", "body_encoding")


def _app_or_default(app: Celery | None) -> Celery:
    if app is not None:
        return app
    from celeriac._state import get_current_app

    return get_current_app()


@contextmanager
def _connection(app: Celery, conn: BrokerConnection | str | None) -> Iterator[BrokerConnection]:
    """``conn`` as a connection; one made here (from a URL, or the app's broker) is released."""
    if isinstance(conn, BrokerConnection):
        yield conn
        return
    made = app.connection(conn)
    try:
        yield made
    finally:
        made.release()


def republish(producer: RawProducer, message: Message, exchange: str | None = None,
              routing_key: str | None = None, remove_props: list[str] | None = None,
              declare: tuple[Any, ...] = ()) -> None:
    """Publish ``message`` again, byte for byte, with ``producer`` (``conn.Producer()``).

    ``exchange``/``routing_key`` default to where the message was delivered from (the
    default exchange and its queue's name).
    """
    if not remove_props:
        remove_props = ["application_headers", "content_type", "content_encoding", "headers"]
    info = message.delivery_info
    exchange = str(info.get("exchange") or "") if exchange is None else exchange
    routing_key = str(info["routing_key"]) if routing_key is None else routing_key
    props = dict(message.properties)
    for key in (*remove_props, *_DELIVERY_PROPERTIES):
        props.pop(key, None)
    expiration = props.pop("expiration", None)  # kombu's: milliseconds, as a string
    seconds = float(expiration) / 1000 if expiration is not None else None
    # The body stays as it travelled (compressed or not) with its ``compression`` header.
    producer.publish(message.body, exchange=exchange, routing_key=routing_key,
                     headers=dict(message.headers), content_type=message.content_type,
                     content_encoding=message.content_encoding, expiration=seconds,
                     declare=declare, **props)


def migrate_task(producer: RawProducer, body_: Any, message: Message,
                 queues: Mapping[str, str] | None = None) -> None:
    """Migrate a single task message into its queue (renamed per ``queues``) on ``producer``."""
    source = str(message.delivery_info["routing_key"])
    republish(producer, message, exchange="", routing_key=(queues or {}).get(source, source))


def migrate_tasks(source: BrokerConnection | str, dest: BrokerConnection | str,
                  migrate: Callable[..., Any] = migrate_task, app: Celery | None = None,
                  queues: Any = None, **kwargs: Any) -> State:
    """Migrate tasks from one broker to another (``queues``: ``'src:dest,...'`` renames).

    Messages are copied unless ``ack_messages=True`` (then moved), as in Celery. Other
    arguments as ``start_filter``: ``limit``, ``timeout``, ``tasks``, ``callback``,
    ``forever``, ``accept``.
    """
    app = _app_or_default(app)
    renames = prepare_queues(queues)
    with _connection(app, source) as src, _connection(app, dest) as dst:
        _refuse_migrating_into_itself(app, src, dst, renames)
        producer = dst.Producer()
        return start_filter(app, src, partial(migrate, producer, queues=renames),
                            queues=renames,
                            on_declare_queue=lambda name: dst.default_channel.declare(
                                [renames.get(name, name)]),
                            **kwargs)


def _refuse_migrating_into_itself(app: Celery, src: BrokerConnection, dst: BrokerConnection,
                                  renames: Mapping[str, str]) -> None:
    """A queue copied onto itself is fetched again and again: refuse instead of looping."""
    if src.as_uri(include_password=True) != dst.as_uri(include_password=True):
        return
    same = [name for name in queue_names(app, list(renames)) if renames.get(name, name) == name]
    if same:
        raise ValueError(f"source and destination are the same broker: queue(s) "
                         f"{', '.join(same)} would be migrated onto themselves; "
                         f"rename them (queues='{same[0]}:other')")


def filter_callback(callback: Callable[[Any, Message], Any],
                    tasks: Any) -> Callable[[Any, Message], Any]:
    """``callback`` called only for messages of the task names in ``tasks`` (all if empty)."""
    def filtered(body: Any, message: Message) -> Any:
        if tasks and task_name_of(body, message) not in tasks:
            return None
        return callback(body, message)
    return filtered


def expand_dest(ret: Any, exchange: str | None, routing_key: str | None) -> tuple[Any, Any]:
    try:
        ex, rk = ret
    except (TypeError, ValueError):
        ex, rk = exchange, routing_key
    return ex, rk


def move(predicate: Callable[[Any, Message], Any], connection: BrokerConnection | str | None = None,
         exchange: str | None = None, routing_key: str | None = None, source: Any = None,
         app: Celery | None = None, callback: Callable[[State, Any, Message], Any] | None = None,
         limit: int | None = None, transform: Callable[[Any], Any] | None = None,
         **kwargs: Any) -> State:
    """Find tasks by filtering them and move the tasks to a new queue (on the same broker).

    ``predicate(body, message)`` returns a false value (leave the message), an ``(exchange,
    routing_key)`` tuple, a ``Queue`` (celeriac's or kombu's, declared first) or any other
    true value (use ``exchange``/``routing_key``). ``source`` lists the queues to read
    (default: the app's queues); ``transform`` maps the predicate's value first;
    ``callback(state, body, message)`` runs after each move; ``limit`` caps the moves.
    """
    app = _app_or_default(app)
    with _connection(app, connection) as conn:
        producer = conn.Producer()
        # One State for the pass (Celery's filter counts on one and returns another).
        state = kwargs.pop("state", None) or State()

        def on_task(body: Any, message: Message) -> None:
            ret = predicate(body, message)
            if not ret:
                return
            if transform:
                ret = transform(ret)
            if isinstance(ret, str) or not _is_queue(ret):
                ex, rk = expand_dest(ret, exchange, routing_key)
                republish(producer, message, exchange=ex, routing_key=rk)
            else:
                queue = as_queue(ret)
                republish(producer, message, exchange=_exchange_name(queue),
                          routing_key=queue.routing_key or queue.name, declare=(queue,))
            message.ack()
            state.filtered += 1
            if callback:
                callback(state, body, message)
            if limit and state.filtered >= limit:
                raise StopFiltering()

        return start_filter(app, conn, on_task, consume_from=source, state=state, **kwargs)


def _is_queue(value: Any) -> bool:
    return hasattr(value, "name") and hasattr(value, "routing_key")


def _exchange_name(queue: Any) -> str:
    exchange = queue.exchange
    return str(getattr(exchange, "name", exchange) or "")


def task_id_eq(task_id: str, body: Any, message: Message) -> bool:
    """Return true if task id equals task_id'."""
    return task_id_of(body, message) == task_id


def task_id_in(ids: Any, body: Any, message: Message) -> bool:
    """Return true if task id is member of set ids'."""
    return task_id_of(body, message) in ids


def move_task_by_id(task_id: str, dest: Any, **kwargs: Any) -> State:
    """Find a task by id and move it to another queue (``dest``: a ``Queue`` or a name)."""
    return move_by_idmap({task_id: dest}, **kwargs)


def move_by_idmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by matching from a ``task_id: queue`` mapping."""
    def task_id_in_map(body: Any, message: Message) -> Any:
        return _destination(map.get(task_id_of(body, message) or ""))

    # The limit stops the pass once everything was found.
    return move(task_id_in_map, limit=len(map), **kwargs)


def move_by_taskmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by matching from a ``task_name: queue`` mapping."""
    def task_name_in_map(body: Any, message: Message) -> Any:
        return _destination(map.get(task_name_of(body, message) or ""))

    return move(task_name_in_map, **kwargs)


def _destination(queue: Any) -> Any:
    """A queue name in a map means that queue (kombu's ``Queue(name)``), not a flag."""
    return as_queue(queue) if isinstance(queue, str) else queue


def filter_status(state: State, body: Any, message: Message, **kwargs: Any) -> None:
    print(MOVING_PROGRESS_FMT.format(state=state, task=task_name_of(body, message),
                                     id=task_id_of(body, message), **kwargs))


__all__ = [
    "Filterer", "State", "StopFiltering", "expand_dest", "filter_callback", "filter_status",
    "migrate_task",
    "migrate_tasks", "move", "move_by_idmap", "move_by_taskmap", "move_task_by_id",
    "prepare_queues", "republish", "start_filter", "task_id_eq", "task_id_in",
]
