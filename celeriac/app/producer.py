"""The producer: hands task messages to the broker, retrying per ``task_publish_retry_policy``.

Inside ``app.publish_batch()`` messages are buffered and sent in one round trip when the
block exits, which is how a client reaches broker speed instead of round-trip speed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celeriac.app.publish_signals import send_after_publish, send_before_publish
from celeriac.exceptions import BrokerRefusedError, OperationalError
from celeriac.signals import after_task_publish, before_task_publish
from celeriac.transport.base import Channel, Outbound, Transport

logger = logging.getLogger(__name__)

_batch: ContextVar[list[Outbound] | None] = ContextVar("celeriac_publish_batch", default=None)

DEFAULT_RETRY_POLICY: Mapping[str, float] = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


class Producer:
    """Publishes through one lazily opened, thread-safe channel, re-opened after fork."""

    def __init__(
        self,
        transport: Transport,
        *,
        retry: bool = True,
        retry_policy: Mapping[str, Any] | None = None,
    ) -> None:
        self._transport = transport
        self._retry = retry
        self._policy = {**DEFAULT_RETRY_POLICY, **(retry_policy or {})}
        #: The transport applies the policy itself (AMQP: re-sends only unconfirmed messages);
        #: retrying here as well would multiply the attempts.
        self._transport_retries = transport.capabilities.retries_publish
        self._channel: Channel | None = None
        self._pid = os.getpid()
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    @property
    def channel(self) -> Channel:
        channel = self._channel
        if channel is None or self._pid != os.getpid():
            with self._lock:
                if self._channel is None or self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._declared = set()
                    self._channel = self._transport.channel()
                channel = self._channel
        return channel

    def publish(self, outbound: Outbound) -> None:
        """Send one message now, or add it to the open ``publish_batch``."""
        pending = _batch.get()
        if pending is not None:
            pending.append(outbound)
            return
        self.publish_many((outbound,))

    def publish_many(self, batch: Sequence[Outbound]) -> None:
        """Send ``batch`` in as few round trips as the broker allows.

        Connection problems are retried per ``task_publish_retry_policy``, here or, for a
        transport that re-sends only what was not confirmed (``Capabilities.retries_publish``),
        inside the transport. A refusal (``BrokerRefusedError``: a message over the broker's
        size limit, a full server) is raised at once: sending it again cannot help.

        Raises:
            BrokerRefusedError: the broker refused the batch.
            OperationalError: the broker stayed unreachable through the retry policy.
        """
        if not batch:
            return
        bodies = None
        if before_task_publish.has_receivers:
            bodies = send_before_publish(batch, self._policy)
        attempt = 0
        while True:
            try:
                self._declare({item.routing_key for item in batch if not item.exchange})
                self.channel.publish(batch)
                break
            except BrokerRefusedError:
                raise
            except (OperationalError, OSError, ConnectionError) as exc:
                attempt += 1
                delay = self._retry_delay(attempt)
                if delay is None:
                    raise OperationalError(
                        f"Could not publish {len(batch)} message(s) after {attempt} "
                        f"attempt(s): {exc}"
                    ) from exc
                logger.warning("Publish failed (%s); retry %d in %.2fs", exc, attempt, delay)
                time.sleep(delay)
        if after_task_publish.has_receivers:
            send_after_publish(batch, bodies)

    def _retry_delay(self, attempt: int) -> float | None:
        """Seconds before retry ``attempt`` (1-based), or None when the policy is spent."""
        max_retries = self._policy.get("max_retries")
        if not self._retry or self._transport_retries or (
                max_retries is not None and attempt > max_retries):
            return None
        return min(
            float(self._policy["interval_start"])
            + float(self._policy["interval_step"]) * (attempt - 1),
            float(self._policy["interval_max"]),
        )

    def _declare(self, queues: set[str]) -> None:
        missing = queues - self._declared
        if missing:
            self.channel.declare(sorted(missing))
            self._declared |= missing

    @contextmanager
    def batch(self) -> Iterator[list[Outbound]]:
        """Buffer every publish in this context; flush them together on exit."""
        outer = _batch.get()
        if outer is not None:
            yield outer
            return
        pending: list[Outbound] = []
        token = _batch.set(pending)
        try:
            yield pending
        finally:
            _batch.reset(token)
        self.publish_many(pending)

    def close(self) -> None:
        if self._channel is not None and self._pid == os.getpid():
            self._channel.close()
        self._channel = None
