"""The Redis channel: kombu's list layout on the wire, celeriac's leases on top.

How a message moves (keys in ``keys.py``):

* **publish**: one pipeline of ``LPUSH <bucket>`` (consecutive messages for one bucket share one
  LPUSH) plus, the first time a queue is seen, kombu's two binding SADDs. A message with a
  future ``not_before`` is pushed like any other (so Celery workers run celeriac's ETA tasks);
  the celeriac worker that takes it ``defer``s it to the zset ``celeriac.delayed.<queue>``, and
  the fetch script moves it back when due. ``delay_on_publish=True`` (a transport option)
  skips that hop for celeriac-only deployments.
* **fetch**: one Lua call (``scripts.FETCH``) moves due delayed messages, pops up to ``limit``
  across the queues' buckets (priority first, queues rotated per call like kombu's
  round-robin), and records every message in kombu's ``unacked``/``unacked_index`` *and* in this
  consumer's lease hash, atomically.
* **blocking when empty**: Redis cannot block inside a script, and ``BRPOP`` followed by
  recording would lose a message to a SIGKILL in between. So an empty fetch waits with
  ``BLMOVE <a queue's main bucket> <own inflight list>``: the move is atomic, the inflight
  list is drained by the fetch script pipelined right behind it (so the message that wakes
  the worker is leased in the same round trip). With several queues a ``QueueWatch``
  (``wakeup.py``, client tracking) wakes the fetch instead. Anything else (priority buckets,
  due delayed messages) is polled every ``fetch_poll_interval`` (0.1 s) while idle.
* **ack**: one ``ACK`` script call (HDEL lease, HDEL ``unacked``, ZREM ``unacked_index`` for the
  tags we still hold). **reject/defer/set_aside**: one ``RELEASE`` script call that moves a
  message only if this consumer still holds its lease.
* **heartbeat**: liveness key, re-scores our tags in ``unacked_index``; every
  ``lease_timeout / 2`` restores dead consumers' leases and our own unheld ones (``restore.py``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

import redis

from celeriac.clients.redis import PinnedClients, RedisParams, oversize_refusal, pipelined
from celeriac.clients.redis_guard import CONNECTION_ERRORS as _CONNECTION_ERRORS
from celeriac.clients.redis_guard import GuardedCalls
from celeriac.config.frozen import TransportOptions
from celeriac.exceptions import BrokerConnectionLost, BrokerRefusedError, OperationalError
from celeriac.protocol.envelope import envelope_priority
from celeriac.transport import emulation
from celeriac.transport.base import Delivery, Outbound
from celeriac.transport.redis import deadletter, framing, queue_ops, restore
from celeriac.transport.redis.fanout import FanoutMethods, RedisFanout
from celeriac.transport.redis.keys import (
    BAD_FIELD_PREFIX,
    KeyLayout,
    as_bytes,
    as_text,
    ordered_queues,
)
from celeriac.transport.redis.liveness import RedisLiveness
from celeriac.transport.redis.scripts import Scripts
from celeriac.transport.redis.wakeup import QueueWatches

logger = logging.getLogger(__name__)


class RedisChannel(GuardedCalls, FanoutMethods, deadletter.DeadLetterMethods):
    """A thread-safe lease identity on one Redis client; see the module docstring."""

    def __init__(
        self, client: redis.Redis, layout: KeyLayout, scripts: Scripts, options: TransportOptions,
        where: str = "redis", params: RedisParams | None = None,
    ) -> None:
        self.client = client
        self.layout = layout
        self.fanout = RedisFanout(client, layout)
        self._pin = PinnedClients(client)
        self._publish_lock = threading.Lock()  # pipelined() needs its client to itself
        self.scripts = scripts
        self.options = options
        self.consumer_id = uuid.uuid4().hex
        self.lease_ms = max(int(options.lease_timeout * 1000), 100)
        self.visibility_timeout = options.redis.visibility_timeout
        self.strategy = options.redis.queue_order_strategy
        self.poll_interval = options.redis.fetch_poll_interval
        self.delayed_batch = options.redis.delayed_batch
        self.delay_on_publish = options.redis.delay_on_publish
        self.exchanges = emulation.ExchangeTable(options.task_queues)
        self.held: set[str] = set()
        self.lease_lock = threading.Lock()
        self.fetch_lock = threading.Lock()  # held while a fetch script may be leasing
        self.leases_key = layout.leases(consumer_id := self.consumer_id)
        self.inflight_key = layout.inflight(consumer_id)
        self._declared: set[str] = set()
        self._turn = itertools.count()
        self._nonce = itertools.count()
        self._registered = False
        self._orphans = False
        self._next_scan = 0.0
        self._failing = False
        self._recoveries = 0
        self._closed = False
        self.where = where
        self._params = params  # to rebuild the client in the lease keeper process
        self._watches = QueueWatches(client, layout)  # wakes a fetch on several queues
        #: Set when reconnecting ran out (the worker stops on it); cleared by a success.
        self.connection_lost: BrokerConnectionLost | None = None
        self.retry_stopped = threading.Event()

    def declare(self, queues: Sequence[str]) -> None:
        new = [q for q in queues if q not in self._declared]
        if not new:
            return

        def run() -> None:
            pipe = self.client.pipeline(transaction=False)
            for queue in new:
                self._add_binding(pipe, queue)
            pipe.execute()

        # One attempt: callers (the producer's retry policy, the worker's start-up loop)
        # decide how long to insist.
        self._call(run, "declare queues", retry=False)
        self._declared.update(new)

    def _add_binding(self, pipe: Any, queue: str) -> None:
        """Celery binds queue Q to direct exchange Q with routing key Q (or as task_queues says)."""
        emulation.redis_add_bindings(pipe, self.layout, self.exchanges, queue)

    def publish(self, batch: Sequence[Outbound]) -> None:
        if not batch:
            return
        commands, queues = framing.publish_commands(self.layout, batch, self._route, time.time(),
                                                    self.delay_on_publish)
        new_queues = [q for q in queues if q not in self._declared]
        # One attempt: the producer's task_publish_retry_policy decides how long to insist.
        try:
            self._call(lambda: self._run_publish(commands, new_queues), "publish", retry=False)
        except BrokerRefusedError:
            raise
        except OperationalError as exc:
            sizes = (len(value) for _, _, values in commands for value in values)
            refused = oversize_refusal(self.client, self.where, sizes)
            if refused is not None:
                raise BrokerRefusedError(refused) from exc
            raise
        self._declared.update(new_queues)

    def _run_publish(self, commands: list[Any], new_queues: list[str]) -> None:
        if not new_queues and len(commands) == 1 and commands[0][0] == "lpush":
            # One command (a plain delay()): straight onto a connection kept for sending,
            # no pool checkout, no pipeline object.
            with self._publish_lock:
                (reply,) = pipelined(self._pin("publish"), ("LPUSH", commands[0][1],
                                                            *commands[0][2]))
            if isinstance(reply, Exception):
                raise reply
            return
        pipe = self.client.pipeline(transaction=False)
        for queue in new_queues:
            self._add_binding(pipe, queue)
        for op, key, values in commands:
            if op == "lpush":
                pipe.lpush(key, *values)
            else:
                pipe.zadd(key, values)
        pipe.execute()

    def _route(self, out: Outbound) -> list[str]:
        """Queues for a message: the routing key on the default exchange, else the bindings."""
        if not out.exchange:
            return [out.routing_key]
        return emulation.redis_route(self, out)  # topic/fanout/direct as kombu, emulation.py

    def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        if limit <= 0 or not queues:
            return []
        if not self._registered:
            self._call(self._beat, "register the consumer")
        deadline = time.monotonic() + max(timeout, 0.0)
        wait: float | None = None
        while True:
            try:
                deliveries = self._call(partial(self._fetch_once, queues, limit, wait), "fetch")
            except OperationalError:
                self._orphans = True
                raise
            if deliveries:
                return deliveries
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            wait = round(max(min(remaining, self.poll_interval), 0.01), 3)

    def _fetch_once(self, queues: Sequence[str], limit: int, wait: float | None) -> list[Delivery]:
        """Run the fetch script; with ``wait``, first block up to that long in ``BLMOVE``.

        The blocking move and the script go out in one pipeline: Redis runs the script as soon
        as the move returns, so a message arriving at an idle worker is leased in the same
        round trip that woke it.
        """
        order = ordered_queues(queues, self.strategy, next(self._turn))
        layout = self.layout
        buckets = [layout.bucket(q, step) for step in layout.priority_steps for q in order]
        names = [q for _ in layout.priority_steps for q in order]
        keys = [layout.unacked_key, layout.unacked_index_key, self.leases_key, self.inflight_key,
                layout.deadletter, *[layout.delayed(q) for q in order], *buckets]
        nonce = f"{self.consumer_id}:{next(self._nonce)}"
        args: list[Any] = [time.time(), limit, self.delayed_batch, nonce, len(order), *names]
        with self.fetch_lock:
            watch = self._watches.of(queues)
            try:
                if watch is None:
                    out = self._run_fetch(keys, args, None if wait is None else (order[0], wait))
                else:
                    watch.before_fetch(wait)
                    out = self._run_fetch(keys, args, None)
            except _CONNECTION_ERRORS:
                self._orphans = True  # the script may have run: recover its leases later
                raise
            tags = [as_text(out[i + 1]) for i in range(0, len(out), 3)]
            with self.lease_lock:
                self.held.update(tags)
        deliveries, bad = framing.decode_leased(out, tags)
        if bad:
            if len(order) == 1:  # items the blocking move took carry no queue: this one
                bad = [(tag, raw, queue or order[0], why) for tag, raw, queue, why in bad]
            self._set_aside_raw(bad)
        return deliveries

    def _run_fetch(self, keys: list[str], args: list[Any],
                   wait: tuple[str, float] | None) -> list[Any]:
        """Send the fetch script exactly once, through ``pipelined()``: redis-py's ``Retry``
        would re-send a script whose reply was lost, stranding the leases it took; raising
        lets ``_fetch_once`` flag them as orphans."""
        client = self._pin("fetch")  # used under fetch_lock only, so pipelined() may use it
        script = ("EVALSHA", self.scripts.fetch.sha, len(keys), *keys, *args)
        if wait is None:
            (out,) = pipelined(client, script)
        else:
            _, out = pipelined(
                client,
                ("BLMOVE", self.layout.bucket(wait[0]), self.inflight_key, "RIGHT", "LEFT",
                 wait[1]),
                script)
        if isinstance(out, redis.exceptions.NoScriptError):
            # The server lost its scripts (a restart); loading is idempotent, so a retried
            # SCRIPT LOAD is harmless. Then one more single send.
            client.script_load(self.scripts.fetch.script)
            (out,) = pipelined(client, script)
        if isinstance(out, Exception):
            raise out
        return list(out)

    def _set_aside_raw(self, bad: Sequence[tuple[str, bytes, str, str]]) -> None:
        """Dead-letter undecodable items that are already under our lease (so never lost)."""
        args: list[Any] = []
        for tag, raw, queue, reason in bad:
            logger.error("Setting aside malformed message from %r: %s", queue, reason)
            record = deadletter.make_record(raw, queue, reason)
            check = "0" if tag.startswith(BAD_FIELD_PREFIX) else "1"
            args += [tag, "rpush", self.layout.deadletter, record, 0, check]
        self._release(args, [item[0] for item in bad])

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        tags = [d.tag for d in deliveries]

        keys = [self.layout.unacked_key, self.layout.unacked_index_key, self.leases_key]
        self._call(lambda: self.scripts.ack(keys=keys, args=tags, client=self._pin("ack")),
                   "acknowledge")
        with self.lease_lock:
            self.held.difference_update(tags)

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool) -> None:
        if not requeue:
            for delivery in deliveries:
                self.set_aside(delivery, "rejected")
            return
        args: list[Any] = []
        for d in deliveries:
            payload = self._envelope(d, redelivered=True)
            key = self.layout.bucket(d.queue, envelope_priority(d.message.properties))
            args += [d.tag, "lpush", key, payload, 0, "1"]
        self._release(args, [d.tag for d in deliveries])

    def defer(self, delivery: Delivery, not_before: float) -> None:
        payload = self._envelope(delivery, redelivered=False)
        member = self.layout.delayed_member(
            payload, delivery.queue, envelope_priority(delivery.message.properties)
        )
        self._release(
            [
                delivery.tag,
                "zadd",
                self.layout.delayed(delivery.queue),
                member,
                repr(float(not_before)),
                "1",
            ],
            [delivery.tag],
        )

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        payload = self._envelope(delivery, redelivered=False)
        record = deadletter.make_record(payload, delivery.queue, reason, delivery.message.task_id)
        self._release(
            [delivery.tag, "rpush", self.layout.deadletter, record, 0, "1"], [delivery.tag]
        )

    def _envelope(self, delivery: Delivery, *, redelivered: bool) -> bytes:
        """The envelope to put back; the original bytes when JSON cannot rewrite the message
        (headers nested deeper than the encoder recurses), read from ``unacked``."""
        try:
            return framing.reencode(delivery.message, delivery.tag, redelivered=redelivered)
        except (RecursionError, TypeError, ValueError):
            stored = self._call(lambda: self.client.hget(self.layout.unacked_key, delivery.tag),
                                "read a leased message")
            if stored is None:
                raise
            return framing.unacked_item(as_bytes(stored))

    def _release(self, args: list[Any], tags: Sequence[str]) -> int:
        if not args:
            return 0
        done = self._call(
            lambda: self.scripts.release(
                keys=[self.layout.unacked_key, self.layout.unacked_index_key, self.leases_key],
                args=args,
            ),
            "release messages",
        )
        with self.lease_lock:
            self.held.difference_update(tags)
        return int(done)

    def _beat(self) -> None:
        layout = self.layout
        self.scripts.heartbeat(
            keys=[
                layout.liveness(self.consumer_id),
                layout.consumers,
                self.leases_key,
                layout.unacked_index_key,
            ],
            args=[self.consumer_id, self.lease_ms, time.time()],
        )
        self._registered = True

    def liveness_renewer(self) -> RedisLiveness | None:
        """What the lease keeper renews: this consumer's liveness key (``liveness.py``)."""
        if self._params is None:
            return None
        return RedisLiveness.of(self._params, self.options.redis, self.options.connect_timeout,
                                self.layout.liveness(self.consumer_id), self.lease_ms)

    def heartbeat(self) -> int:
        self._call(self._beat, "heartbeat")
        restored = 0
        scan = time.monotonic() >= self._next_scan
        if scan:
            self._next_scan = time.monotonic() + self.options.lease_timeout / 2
            restored += self._call(lambda: restore.restore_dead(self), "restore dead consumers")
            restored += self._call(lambda: restore.restore_visible(self), "restore stale unacked")
        # Own leases with no Delivery (a lost reply, seen or not): no peer restores them.
        if self._orphans or scan:
            self._orphans = False
            restored += self._call(lambda: restore.restore_unheld(self), "recover own leases")
        return restored

    def purge(self, queue: str) -> int:
        """One attempt, like the dead-letter commands: a user's command fails at once."""
        return self._call(lambda: queue_ops.purge(self.client, self.layout, queue), "purge",
                          retry=False)

    def size(self, queue: str) -> int:
        return self._call(lambda: queue_ops.size(self.client, self.layout, queue), "size",
                          retry=False)

    def close(self) -> None:
        """Give back what we still hold now (like Celery's warm shutdown), then deregister."""
        if self._closed:
            return
        self._closed = True
        self._watches.close()
        self._pin.close()
        self.fanout.publisher.close()
        if not self._registered:
            return
        try:
            restore.restore_own(self)
        except (*_CONNECTION_ERRORS, OperationalError) as exc:
            logger.warning("Could not return leases on close (%s); peers will restore them", exc)


__all__ = ["RedisChannel"]
