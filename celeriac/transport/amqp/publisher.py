"""Confirmed, pipelined publishing on a link of its own.

Publisher confirms are on for every publish: ``publish`` returns only after RabbitMQ has
acknowledged every message of the batch, so a ``delay()`` that returned means the broker has
the task. The batch is pipelined: all ``basic.publish`` frames go out in one TCP write, then
the confirms are read as they come (RabbitMQ often confirms many at once with
``multiple=True``), i.e. one round trip per batch instead of one per message, which is what
py-amqp's ``basic_publish_confirm`` and therefore Celery do.

A failure mid-batch (connection lost, broker restarted) reconnects and re-sends only the
messages not yet confirmed, as ``publish_retry_policy`` allows; when the retries run out the
caller gets ``OperationalError``. A message whose confirm was lost in the outage can thus reach
the broker twice; celeriac prefers a duplicate to a loss (workers run tasks at least once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from celeriac.clients.amqp import AmqpParams, Link, with_retries
from celeriac.clients.retry import RetryPolicy
from celeriac.exceptions import OperationalError
from celeriac.transport.amqp.topology import Declared

T = TypeVar("T")
#: (exchange, routing_key, amqp.Message)
Item = tuple[str, str, Any]


class Publisher:
    """A thread-safe confirmed publisher; ``run`` lends its channel for other short commands."""

    def __init__(
        self, params: AmqpParams, policy: RetryPolicy, confirm_timeout: float = 30.0
    ) -> None:
        self.link = Link(params, "publisher", on_open=self._on_open)
        self.policy = policy
        self.confirm_timeout = confirm_timeout
        self.lock = threading.Lock()
        self.declared = Declared()
        self._seq = 0
        self._pending: dict[int, int] = {}
        self._nacked: list[int] = []

    def _on_open(self, channel: Any) -> None:
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._seq = 0
        self._pending = {}

    def _on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            for seq in [s for s in self._pending if s <= tag]:
                del self._pending[seq]
        else:
            self._pending.pop(tag, None)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        seqs = [s for s in self._pending if s <= tag] if multiple else [tag]
        for seq in seqs:
            index = self._pending.pop(seq, None)
            if index is not None:
                self._nacked.append(index)

    def run(
        self, action: Callable[[Any, Declared], T], what: str, policy: RetryPolicy | None = None
    ) -> T:
        """Call ``action(channel, declared)`` under the lock, reconnecting per the policy."""
        with self.lock:
            return with_retries(self.link, lambda: self._call(action), what, policy or self.policy)

    def _call(self, action: Callable[[Any, Declared], T]) -> T:
        channel = self.link.channel()
        return action(channel, self.declared.fresh(self.link.generation))

    def publish(
        self, items: Sequence[Item], prepare: Callable[[Any, Declared], None] | None = None
    ) -> None:
        """Publish ``items`` and wait for every confirm; ``prepare`` declares what they need.

        Raises:
            OperationalError: the broker stayed unreachable, refused a message (nack) on
                every try, or did not confirm within ``confirm_timeout``.
        """
        if not items:
            return
        remaining = list(range(len(items)))
        with self.lock:

            def attempt() -> None:
                nonlocal remaining
                remaining = self._attempt(items, remaining, prepare)
                if remaining:
                    raise _Nacked(len(remaining))

            with_retries(self.link, attempt, "publish", self.policy)

    def _attempt(
        self,
        items: Sequence[Item],
        indices: list[int],
        prepare: Callable[[Any, Declared], None] | None,
    ) -> list[int]:
        """Send ``indices`` of ``items``; return those not confirmed (nacked)."""
        channel = self.link.channel()
        if prepare is not None:
            prepare(channel, self.declared.fresh(self.link.generation))
        self._nacked = []
        sent: dict[int, int] = {}
        try:
            with self.link.corked():
                for index in indices:
                    exchange, routing_key, message = items[index]
                    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
                    self._seq += 1
                    sent[self._seq] = index
                    self._pending[self._seq] = index
            self._wait_confirms()
        except BaseException:
            # for the retry keep what is unconfirmed: sent-but-unacked, unsent, nacked
            unsent = indices[len(sent) :]
            indices[:] = sorted({*self._pending.values(), *unsent, *self._nacked})
            self._pending = {}
            raise
        return sorted(self._nacked)

    def send_confirmed(self, channel: Any, items: Sequence[Item]) -> None:
        """Inside ``run`` (lock held): publish ``items`` on ``channel`` and await confirms.

        Raises:
            ConnectionError: some were nacked (``run`` retries the whole action).
        """
        self._nacked = []
        with self.link.corked():
            for index, (exchange, routing_key, message) in enumerate(items):
                channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
                self._seq += 1
                self._pending[self._seq] = index
        self._wait_confirms()
        if self._nacked:
            raise _Nacked(len(self._nacked))

    def _wait_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self._pending = {}
                self.link.reset()
                raise OperationalError(
                    f"RabbitMQ did not confirm published messages within "
                    f"{self.confirm_timeout:.0f} s (broker overloaded or blocked by a resource "
                    "alarm?); they may or may not have been accepted."
                )
            self.link.pump(min(left, 1.0))

    def heartbeat(self) -> None:
        """Keep an idle publisher connection alive; skipped while a publish is running."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            self.link.heartbeat_tick()
        except Exception:
            self.link.reset()
        finally:
            self.lock.release()

    def close(self) -> None:
        with self.lock:
            self.link.close()


class _Nacked(ConnectionError):
    """RabbitMQ nacked some messages: retried like a connection problem, then reported."""

    def __init__(self, count: int) -> None:
        super().__init__(f"RabbitMQ refused (nacked) {count} message(s)")


__all__ = ["Item", "Publisher"]
