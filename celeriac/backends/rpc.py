"""``rpc://``: results travel back as AMQP messages to the caller's reply queue (§4.6).

How it works, as Celery's rpc backend does on the wire:

* The **client** names a reply queue after its ``oid`` (the ``reply_to`` property of every task
  it sends) and declares it durable, auto-delete, with ``x-expires = result_expires`` (ms)
  before it publishes (``on_task_call``). It consumes the queue with ``no_ack`` and keeps only
  the latest state per task id that ``backends.final_state.may_replace`` lets replace the one kept
  (as a durable store: a SUCCESS stays, a retried attempt's late RETRY hides no outcome).
* The **worker** publishes each state to the default exchange with routing key = the task's
  ``reply_to``, ``correlation_id`` = task id, content type JSON, ``delivery_mode`` 1 (2 with
  ``result_persistent``), and the body = the result meta (status, result, traceback, children,
  date_done, task_id). So a Celery client reads a celeriac worker's results and the other way
  round.

Limits (the same as Celery's, by design of the protocol):

* Only the client that sent a task can read its result: the reply queue is private to that
  client's ``oid``. ``AsyncResult(id)`` built in another process (or by a client with another
  ``oid``) never sees it; ``get`` then fails with ``ResultUnavailable`` (a ``TimeoutError``)
  that explains this instead of waiting forever.
* Nothing is persisted: a result is a message, read once; restart the client and it is gone.
  States arrive in order, the latest allowed wins; ``forget`` only drops the local copy.

Every record reaches the client, not only the final one: ``update_state`` progress and STARTED
go to the running task's ``reply_to``; the failures a chain or chord stores for steps that will
never run go to the ``reply_to`` each step's signature was frozen with.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, Self

import amqp  # type: ignore[import-untyped]

from celeriac.backends.capabilities import Capability, StoreCapabilities
from celeriac.backends.final_state import may_replace
from celeriac.backends.record_codec import RecordCodec
from celeriac.clients.amqp import (
    AMQP_ERRORS,
    AmqpParams,
    Link,
    parse_url,
    with_retries,
)
from celeriac.clients.retry import PUBLISH_RETRY, RetryPolicy
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured, InvalidMessage, TimeoutError
from celeriac.protocol.result_meta import ResultMeta
from celeriac.serialization import registry
from celeriac.transport.amqp.publisher import Publisher

logger = logging.getLogger(__name__)

#: Result metas kept for ids nobody asked for yet; the oldest are dropped beyond this.
MAX_KEPT: Final = 10_000
_ACCEPT: Final = frozenset({"json", "application/json", "msgpack", "application/x-msgpack"})
_EXTENDED: Final = ("name", "args", "kwargs", "worker", "retries", "queue", "reply_to")


class ResultUnavailable(TimeoutError):
    """No result can arrive for this id through ``rpc://`` (see the module docstring)."""


class RpcBackend(StoreCapabilities):
    """The rpc result store; one per app (its ``oid`` names the reply queue).

    It keeps only what reached this client, so it applies store-if-not-final to the replies it
    receives; chords and groups need a store every process reads, which this is not.
    """

    persistent = False
    capabilities = frozenset({Capability.STORE_IF_NOT_FINAL})
    uses_broker_url = True

    def __init__(self, params: AmqpParams, options: BackendOptions, oid: str | None = None) -> None:
        typed = options.rpc
        self.params = params
        self.options = options
        self.oid = oid or options.oid or str(uuid.uuid4())
        self.unknown_timeout = typed.rpc_unknown_timeout
        self.delivery_mode = 2 if options.persistent else 1
        # What the user accepts for results, plus the types celeriac always read here.
        self._accept = RecordCodec(options.serializer, None, options.accept).accept | _ACCEPT
        if options.compression:
            logger.warning("result_compression=%r is not applied to rpc:// results: replies "
                           "are sent uncompressed, as Celery's rpc backend does",
                           options.compression)
        self._lock = threading.RLock()
        # No AMQP heartbeats on the reply link, as kombu's client connections: nothing ticks
        # them in a client process, and RabbitMQ would close an idle client's connection,
        # deleting its auto-delete reply queue with the results on their way.
        self._link = Link(replace(params, heartbeat=0.0), f"rpc {self.oid}", on_open=self._on_open)
        self._publisher: Publisher | None = None
        self._reply_policy = RetryPolicy.from_mapping(typed.publish_retry_policy, RetryPolicy())
        self._results: OrderedDict[str, ResultMeta] = OrderedDict()
        self._announced: set[str] = set()
        self._announcing = False

    @classmethod
    def from_url(
        cls, url: str, options: BackendOptions | None = None, *, broker_url: str | None = None
    ) -> Self:
        """``rpc://`` uses the broker's connection settings; it needs an AMQP broker.

        Raises:
            ImproperlyConfigured: the broker is not RabbitMQ (amqp/pyamqp/amqps).
        """
        options = options or BackendOptions()
        target = broker_url or ""
        if target.split("://", 1)[0].lower() not in ("amqp", "pyamqp", "amqps"):
            raise ImproperlyConfigured(
                f"result_backend 'rpc://' sends results over the broker and needs a RabbitMQ "
                f"broker (amqp://...), but the broker is {target or 'not set'!r}. Use a "
                "persistent result store (redis://, sqlite://, db+postgresql://) with this broker."
            )
        params = parse_url(target, options.rpc)
        return cls(params, options)

    # -- client side ----------------------------------------------------------------------------
    def _on_open(self, channel: Any) -> None:
        arguments: dict[str, Any] = {}
        if self.options.expires:
            arguments["x-expires"] = int(self.options.expires * 1000)
        channel.queue_declare(self.oid, durable=True, auto_delete=True, arguments=arguments or None)
        channel.basic_consume(self.oid, callback=self._on_reply, no_ack=True)

    def _on_reply(self, message: Any) -> None:
        try:
            meta = self._decode(message)
        except Exception as exc:
            logger.error("Unreadable rpc result message in %r: %r", self.oid, exc)
            return
        known = self._results.get(meta.task_id)
        if known is not None and not may_replace(known.status, meta.status):
            return  # e.g. an old attempt's RETRY arriving after the retried task finished
        self._results[meta.task_id] = meta
        self._results.move_to_end(meta.task_id)
        while len(self._results) > MAX_KEPT:
            self._results.popitem(last=False)

    def _decode(self, message: Any) -> ResultMeta:
        props = message.properties
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        record = registry.loads(
            body,
            str(props.get("content_type") or "application/json"),
            str(props.get("content_encoding") or "utf-8"),
            self._accept,
        )
        if not isinstance(record, dict):
            raise InvalidMessage(f"rpc result body is not an object: {record!r}")
        return ResultMeta.from_dict(record, props.get("correlation_id"))

    def on_task_call(self, task_id: str | None = None) -> None:
        """Call before publishing a task: the reply queue must exist before its result does."""
        with self._lock:
            if task_id is not None:
                self._announcing = True
                self._announced.add(task_id)
            # An unreachable broker fails this like the publish that follows would
            # (OperationalError after task_publish_retry_policy), not with a raw socket error.
            with_retries(self._link, self._link.channel, "declare the result reply queue",
                         self._reply_policy)

    def _drain(self, timeout: float) -> None:
        """Read the replies already there; if none, wait up to ``timeout`` s for some.

        The wait for the socket happens outside the lock, so a thread sending tasks
        (``on_task_call``) never queues behind a thread waiting for a result.
        """
        if self._read_ready() or timeout <= 0:
            return
        self._link.wait_readable(timeout)
        self._read_ready()

    def _read_ready(self) -> int:
        with self._lock:
            try:
                self._link.channel()
                return self._link.drain_ready()
            except AMQP_ERRORS as exc:
                logger.warning("rpc reply connection lost (%r); reconnecting", exc)
                self._link.reset()
        time.sleep(0.1)
        return 0

    def get(self, task_id: str) -> ResultMeta:
        self._drain(0)
        return self._results.get(task_id) or ResultMeta(task_id)

    def get_many(self, task_ids: Sequence[str]) -> list[ResultMeta]:
        self._drain(0)
        return [self._results.get(tid) or ResultMeta(tid) for tid in task_ids]

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Consume replies until ``task_id`` is ready.

        Raises:
            ResultUnavailable: the id was never sent by this client and nothing came for it.
            TimeoutError: ``timeout`` passed first.
        """
        unknown = self._announcing and task_id not in self._announced
        limit = timeout
        if unknown and (limit is None or limit > self.unknown_timeout):
            limit = self.unknown_timeout
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            meta = self._results.get(task_id)
            if meta is not None and meta.ready:
                return meta
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._timeout(task_id, meta, timeout)
            self._drain(0.2 if left is None else min(left, 0.2))

    def _timeout(self, task_id: str, meta: ResultMeta | None, timeout: float | None) -> None:
        if meta is None and task_id not in self._announced:
            raise ResultUnavailable(
                f"No result for task {task_id} through rpc://: results are sent only to the "
                f"reply queue of the client that sent the task (this client is {self.oid}) and "
                "are not stored anywhere. AsyncResult(id) from another process cannot read them; "
                "use a persistent result backend (redis://, sqlite://, db+postgresql://) for that."
            )
        raise TimeoutError(f"The operation timed out waiting for task {task_id}.")

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._results.pop(task_id, None)
            self._announced.discard(task_id)

    # -- worker side --------------------------------------------------------------------------
    def _encode(self, meta: ResultMeta) -> Any:
        record = meta.to_dict()
        for key in _EXTENDED:
            record.pop(key, None)
        content_type, content_encoding, body = registry.dumps(record, self.options.serializer)
        return amqp.Message(
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            application_headers={},
            correlation_id=meta.task_id,
            delivery_mode=self.delivery_mode,
            priority=0,
        )

    def store_replies(self, replies: Sequence[tuple[str, ResultMeta]]) -> None:
        """Publish each ``(reply_to, meta)``, confirmed, in one batch.

        Every record of a task travels this way: the final state, and also ``update_state``,
        STARTED and the failures a chain or chord stores for its later steps, each with the
        ``reply_to`` of the message (or signature) it belongs to. A record with no reply
        queue cannot reach anyone: it is dropped with a warning, never silently.
        """
        items = []
        for reply_to, meta in replies:
            if reply_to:
                items.append(("", reply_to, self._encode(meta)))
            else:
                logger.warning("rpc:// %s record of task %s dropped: its message has no "
                               "reply_to", meta.status, meta.task_id)
        if not items:
            return
        with self._lock:
            if self._publisher is None:
                self._publisher = Publisher(self.params, PUBLISH_RETRY)
            publisher = self._publisher
        publisher.publish(items)

    def store_reply(self, reply_to: str, meta: ResultMeta) -> None:
        """Send one task state to the client queue ``reply_to`` (the task's property)."""
        self.store_replies([(reply_to, meta)])

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """``ResultBackend.store``: needs ``meta.extended['reply_to']`` to know the queue.

        Prefer ``backends.base.store_with_reply_to`` with the ``reply_to`` of each record's
        task, as the worker, ``update_state`` and the canvas do.
        """
        self.store_replies([(str((meta.extended or {}).get("reply_to") or ""), meta)
                            for meta in metas])

    def close(self) -> None:
        with self._lock:
            self._link.close()
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None


__all__ = ["ResultUnavailable", "RpcBackend"]
