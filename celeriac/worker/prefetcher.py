"""The prefetcher: fetches on its own thread so broker round trips overlap task execution.

While the consumer runs one batch, the next one is already on its way: the broker's work
(a Lua script on Redis, a transaction on SQLite) and the network wait happen while Python
executes tasks, instead of between batches.

Prefetch limits are hard ceilings. Only the consumer's thread counts what it holds, so only it
says how many more messages may be fetched (``allow``); a fetcher spends that allowance as it
hands batches over (``take``), so nothing can be fetched between a hand-over and the
consumer's own count of it. A fetch in flight is covered too: its size came out of the
allowance, and the consumer's next ``allow`` is computed from a count that includes
everything it took, so it is never larger than what is really free.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from celeriac.transport.base import Channel, Delivery

logger = logging.getLogger(__name__)

#: How long one fetch may wait for messages; a stop waits for the fetch under way.
FETCH_TIMEOUT = 0.2
IDLE_WAIT = 0.05


class Prefetcher:
    """Owns the fetch side of one channel; fetches no more than the consumer allows."""

    def __init__(self, channel: Channel, queues: Sequence[str],
                 on_arrival: threading.Event) -> None:
        self.channel = channel
        self.queues = list(queues)
        self._on_arrival = on_arrival
        self._buffer: list[Delivery] = []
        #: How many messages the buffer and the fetch in flight may hold together.
        self._allowance = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: The queue list of the fetch under way (None: none is), for ``use_queues``.
        self._fetching: list[str] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="celeriac-prefetch")
        self._thread.start()

    def take(self, wait: float = 0.0) -> list[Delivery]:
        """Everything fetched so far; when nothing, waits up to ``wait`` for any wake-up
        (an arrival, or whatever else sets the consumer's event) and returns nothing."""
        with self._cond:
            batch, self._buffer = self._buffer, []
            self._allowance -= len(batch)  # now the consumer's to count
        if not batch and wait > 0:
            self._on_arrival.wait(wait)
        return batch

    def allow(self, allowance: int) -> None:
        """From the consumer's thread: this many more may be fetched now (window minus
        everything the consumer holds); fetch at once if that leaves room."""
        with self._cond:
            self._allowance = allowance
            self._cond.notify()

    def use_queues(self, queues: list[str]) -> None:
        """Fetch from ``queues`` from now on (``add_consumer``/``cancel_consumer``).

        Returns once no fetch with the old list is under way, so nothing is fetched from a
        cancelled queue after this returns. The list is replaced, never changed in place.
        """
        with self._cond:
            old, self.queues = self.queues, queues
            deadline = time.monotonic() + 10 * FETCH_TIMEOUT
            while self._fetching is old and self._thread is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)

    def stop(self) -> list[Delivery]:
        """Stop fetching; return what was fetched but never taken, for the caller to requeue."""
        self._stopping.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        return self.take()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                queues = self.queues  # replaced, never changed, by ``use_queues``
                room = self._allowance - len(self._buffer)
                if room <= 0 or self._buffer or not queues:
                    # Also wait while a batch is untaken: the consumer thread, just woken,
                    # gets the interpreter now instead of after this thread's next request.
                    self._cond.wait(IDLE_WAIT)
                    continue
                self._fetching = queues
            try:
                batch = self.channel.fetch(queues, room, FETCH_TIMEOUT)
            except Exception as exc:
                logger.error("Fetching from %s failed, retrying in 1s: %r", queues, exc,
                             exc_info=True)
                batch = []
                self._stopping.wait(1.0)
            with self._cond:
                self._buffer.extend(batch)
                self._fetching = None
                self._cond.notify_all()
            if batch:
                self._on_arrival.set()


class InlineFetcher:
    """The prefetcher's interface, fetching on the consumer's own thread.

    For a broker that pushes (AMQP streams deliveries into the socket up to the prefetch
    count) a fetch is decoding bytes already here, not waiting on the network: a second
    thread would overlap nothing and only add hand-offs under the GIL. Used with the solo
    pool, where nothing runs between the consumer's steps, so blocking in ``fetch`` while
    idle delays nothing.
    """

    def __init__(self, channel: Channel, queues: Sequence[str]) -> None:
        self.channel = channel
        self.queues = list(queues)
        self._allowance = 0

    def start(self) -> None:
        """Nothing runs in the background."""

    def take(self, wait: float = 0.0) -> list[Delivery]:
        room, queues = self._allowance, self.queues
        if room <= 0 or not queues:  # the window is full, or every queue was cancelled
            if wait > 0:
                time.sleep(wait)
            return []
        try:
            batch = self.channel.fetch(queues, room, wait)
        except Exception as exc:
            logger.error("Fetching from %s failed, retrying in 1s: %r", self.queues, exc,
                         exc_info=True)
            time.sleep(1.0)
            return []
        self._allowance -= len(batch)
        return batch

    def allow(self, allowance: int) -> None:
        """The next ``take`` may fetch this many."""
        self._allowance = allowance

    def use_queues(self, queues: list[str]) -> None:
        """Fetch from ``queues`` from the consumer thread's next fetch on."""
        self.queues = queues

    def stop(self) -> list[Delivery]:
        return []
