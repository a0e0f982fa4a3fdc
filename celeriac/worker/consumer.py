"""The consumer: the worker's hot loop. Fetch a batch, dispatch it, store results, ack.

Everything network-bound happens here, in batches: one ``fetch`` per loop for up to the free
prefetch window, one ``store`` for the results completed since the last loop, one ``ack``
for their messages (results are always stored before their messages are acknowledged; when
the store is down, ``ResultWriter`` retries or hands the messages back, never acks them).

Prefetch: the consumer counts every message it holds (running or finished but unsettled,
held for an ETA or a rate limit, backlogged, waiting for its result to be stored) in
``reserved()``, on its own thread, and tells the fetcher how many more it may fetch; the
fetcher spends that allowance on what it fetches and hands over (``prefetcher.py``). A
user-set ``worker_prefetch_multiplier`` makes ``concurrency x multiplier`` a hard ceiling on
leased-but-unsettled messages; only a defaulted one lets the window widen for short tasks.

Acknowledgement timing: early or late, a message is acknowledged in a batch after its task
ran and its result was stored (``acks_late`` decides what a failure or a lost process does
with it). So a worker killed mid batch re-delivers rather than loses its messages: celeriac
errs towards running a task twice over losing it (documented in the README).
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Container, Sequence

from celeriac import signals, states
from celeriac.backends.base import ResultBackend
from celeriac.config.frozen import StoreRetryPolicy
from celeriac.execution.callbacks import chord_parts, fire_chords
from celeriac.execution.context import Context
from celeriac.execution.outcome import Disposition, Outcome, UnannouncedFailure
from celeriac.execution.request import Request
from celeriac.pools.base import Pool, RunnerLookup
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Channel, Delivery
from celeriac.worker.dispatch import Decision, Dispatcher, revoked_by_stamp, revoked_meta
from celeriac.worker.prefetcher import InlineFetcher, Prefetcher
from celeriac.worker.rate_limit import RateLimits
from celeriac.worker.refusal_signals import send_refusal_signal
from celeriac.worker.result_writer import PendingBatch, ResultWriter

logger = logging.getLogger(__name__)

ADAPTIVE_WINDOW_SECONDS = 0.05
MAX_BATCH = 500
#: Within a batch, results are stored and messages acknowledged at least every
#: ``max(MIN_FLUSH, window / 4)`` tasks, not only once the whole batch has run.
MIN_FLUSH = 16


class Consumer:
    """Owns the channel's fetch side and the flow of messages through the pool."""

    def __init__(self, channel: Channel, queues: Sequence[str], pool: Pool,
                 dispatcher: Dispatcher, backend: ResultBackend | None,
                 prefetch_limit: int, rate_limits: RateLimits | None = None,
                 revoked: Container[str] = frozenset(), inline_fetch: bool = False, *,
                 adaptive_window: bool = True,
                 store_retry: StoreRetryPolicy | None = None,
                 runners: RunnerLookup) -> None:
        self.channel = channel
        self.queues = list(queues)
        self.pool = pool
        self.dispatcher = dispatcher
        self.runners = runners
        self.backend = backend
        self.results = ResultWriter(backend, store_retry)
        self.prefetch_limit = max(1, prefetch_limit)
        self.adaptive_window = adaptive_window
        self._average_runtime: float | None = None
        self.stop_fetching = threading.Event()
        self._completed: queue.SimpleQueue[tuple[Request, Outcome]] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self._held: list[tuple[float, int, Request]] = []
        self._counter = 0
        self._in_pool = 0
        self._backlog: list[Request] = []
        self.total_processed = 0
        self.rate_limits = rate_limits or RateLimits()
        self.revoked = revoked
        self.active: dict[str, tuple[Request, float]] = {}
        self.processed_by_task: dict[str, int] = {}
        self.prefetcher: Prefetcher | InlineFetcher = (
            InlineFetcher(channel, self.queues) if inline_fetch
            else Prefetcher(channel, self.queues, self._wakeup))

    # -- pool callback (any thread) ------------------------------------------------------
    def on_outcome(self, request: Request, outcome: Outcome) -> None:
        # Only wakes the consumer: it settles the message, recounts and lets the fetcher
        # fetch again (counting on this thread would race with the consumer's).
        self._completed.put((request, outcome))
        self._wakeup.set()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Consume until ``stop_fetching`` is set; fetched-but-unstarted messages go back."""
        self.prefetcher.start()
        self._allow_fetch()
        try:
            while not self.stop_fetching.is_set():
                self.step()
                if (events := self.dispatcher.events) is not None:  # batched task events
                    events.flush()
        finally:
            leftovers = self.prefetcher.stop()
            if leftovers:
                self.channel.reject(leftovers, requeue=True)
            self.drain_completed()

    def step(self) -> None:
        """One round: finish what completed, start held/backlogged work, run what arrived."""
        self._wakeup.clear()
        self.drain_completed()
        self._release_due()
        self._allow_fetch()
        deliveries = self.prefetcher.take(self._next_timeout(0.05))
        if not deliveries:
            return
        flush_every = max(MIN_FLUSH, self.window() // 4)
        for index, delivery in enumerate(deliveries, 1):
            if self.stop_fetching.is_set():
                self.channel.reject(deliveries[index - 1:], requeue=True)
                return
            try:
                self._handle(delivery)
            except Exception:  # one message's failure must not strand the rest of the batch
                self._isolate(delivery)
            if index % flush_every == 0:
                # Settle part of a long batch now: a broker that counts unacknowledged
                # messages (AMQP QoS) streams the next ones while this batch still runs.
                self.drain_completed()
                self._allow_fetch(unhandled=len(deliveries) - index)
        self._allow_fetch()

    # -- remote control: queues and pool size (control/autoscaler thread) -------------------
    def set_queues(self, names: Sequence[str]) -> None:
        """Fetch from ``names`` from now on (``add_consumer``/``cancel_consumer``).

        A new list is assigned, never one changed in place, so threads reading it need no
        lock; the prefetcher returns once its fetch under way (with the old list) is over.
        What was fetched before runs as usual.
        """
        queues = list(dict.fromkeys(names))
        self.queues = queues
        self.prefetcher.use_queues(queues)

    def demand(self) -> int:
        """Requests this worker wants a pool slot for now (running or waiting for one): what
        the autoscaler compares with the pool's size, as Celery's ``reserved_requests``."""
        return self._in_pool + len(self._backlog)

    def room(self) -> int:
        """How many more messages may be leased now: the window minus everything held."""
        if self.pool.free_slots() <= 0 and self._backlog:
            return 0
        return self.window() - self.reserved()

    def _allow_fetch(self, unhandled: int = 0) -> None:
        """Tell the fetcher how many more it may fetch; ``unhandled`` messages of the batch
        being dispatched are held too, though not counted in ``reserved()`` yet."""
        self.prefetcher.allow(self.room() - unhandled)

    def window(self) -> int:
        """How many messages this worker may hold: the prefetch limit, widened for short tasks
        unless the user chose the multiplier (then it is a hard ceiling, as in Celery).

        Celery's ``concurrency x prefetch_multiplier`` keeps work spread fairly across
        workers, which matters for long tasks. For short ones it only costs round trips, so
        by default the window grows until it holds about ``ADAPTIVE_WINDOW_SECONDS`` of work
        (at most ``MAX_BATCH`` messages): a worker never holds more than a few milliseconds of
        work beyond what Celery would let it prefetch.
        """
        average = self._average_runtime
        if average is None or not self.adaptive_window:
            return self.prefetch_limit
        adaptive = int(ADAPTIVE_WINDOW_SECONDS / max(average, 1e-6))
        return max(self.prefetch_limit, min(adaptive, MAX_BATCH))

    @property
    def backlog(self) -> list[Request]:
        return list(self._backlog)

    def held(self) -> list[tuple[float, Request]]:
        """Requests waiting for their ETA or a rate-limit token, with their due time."""
        return [(when, request) for when, _, request in list(self._held)]

    def reserved(self) -> int:
        """Messages leased and not yet settled: running or finished-but-unsettled, held,
        backlogged, or waiting for their results to be stored."""
        return (self._in_pool + len(self._held) + len(self._backlog)
                + self.results.parked_messages)

    def _next_timeout(self, default: float) -> float:
        if self._held:
            default = max(0.0, min(default, self._held[0][0] - time.time()))
        retry_at = self.results.next_due()
        if retry_at is not None:
            default = max(0.0, min(default, retry_at - time.monotonic()))
        return default

    # -- per delivery -----------------------------------------------------------------------
    def _handle(self, delivery: Delivery) -> None:
        decision = self.dispatcher.decide(delivery)
        if decision.request is not None:
            if signals.task_received.has_receivers:
                signals.task_received.send(sender=self, request=decision.request)
            if decision.hold_until is not None:
                self._hold(decision.request, decision.hold_until)
            else:
                self._start(decision.request)
            return
        self._settle_without_running(delivery, decision)

    def _isolate(self, delivery: Delivery) -> None:
        """Set aside a message whose handling raised; if even that fails, log and move on
        (it stays leased to this worker and comes back when the worker stops)."""
        logger.error("Handling message %s from queue %r failed", delivery.tag, delivery.queue,
                     exc_info=True)
        try:
            self.channel.set_aside(delivery, "the worker failed while handling it (see its log)")
        except Exception:
            logger.error("Could not set aside message %s", delivery.tag, exc_info=True)

    def _settle_without_running(self, delivery: Delivery, decision: Decision) -> None:
        meta = decision.revoked_meta
        if meta is None:
            self._settle_unrun(delivery, decision)
            return

        def settle() -> None:
            if meta.status == states.REVOKED:
                why = meta.result.get("exc_message", [""])[0]
                self._signal_revoked(delivery.message, expired=why == "expired")
            self._settle_unrun(delivery, decision)

        self.results.submit(PendingBatch(
            [(delivery.message, meta)], 1, settle,
            lambda: self.channel.reject([delivery], requeue=True)))

    def _settle_unrun(self, delivery: Delivery, decision: Decision) -> None:
        if decision.set_aside is not None:
            logger.error("Message %s from queue %r set aside: %s",
                         delivery.message.headers.get("id"), delivery.queue, decision.set_aside)
            self.channel.set_aside(delivery, decision.set_aside)
            send_refusal_signal(self, delivery.message, decision)
        elif decision.defer_until is not None:
            self.channel.defer(delivery, decision.defer_until)
        else:
            self.channel.ack([delivery])

    def _start(self, request: Request) -> None:
        """Hand ``request`` to the pool, unless revoked meanwhile, rate limited or pool full."""
        if request.task_id in self.revoked or revoked_by_stamp(self.revoked, request.headers):
            self._revoke(request)
            return
        if self.pool.free_slots() <= 0:
            self._backlog.append(request)
            return
        wait = self.rate_limits.delay_for(request.task_name)
        if wait > 0:
            self._hold(request, time.time() + wait)
            return
        self._in_pool += 1
        self.active[request.task_id] = (request, time.time())
        if (events := self.dispatcher.events) is not None and events.tasks:
            events.task_started(request)
        self.pool.submit(request)

    def _hold(self, request: Request, until: float) -> None:
        self._counter += 1
        heapq.heappush(self._held, (until, self._counter, request))

    def _revoke(self, request: Request) -> None:
        logger.warning("Discarding revoked task: %s[%s]", request.task_name, request.task_id)
        delivery = request.delivery

        def settle() -> None:
            self.channel.ack([delivery])
            self._signal_revoked(delivery.message)

        self.results.submit(PendingBatch(
            [(delivery.message, revoked_meta(request.task_id, "revoked"))], 1, settle,
            lambda: self.channel.reject([delivery], requeue=True)))

    def _signal_revoked(self, message: TaskMessage, *, expired: bool = False,
                        terminated: bool = False) -> None:
        """``task_revoked`` as Celery sends it: the task as sender, its request context."""
        if (events := self.dispatcher.events) is not None and events.tasks:  # task-revoked
            events.task_revoked(message, terminated=terminated, expired=expired)
        if not signals.task_revoked.has_receivers:
            return
        name = str(message.headers.get("task"))
        task = self.dispatcher.app.tasks.get(name)
        context = Context(id=message.task_id, task=name, headers=message.headers,
                          called_directly=False)
        signals.task_revoked.send(sender=task, request=context, terminated=terminated,
                                  signum=None, expired=expired)

    def _release_due(self) -> None:
        now = time.time()
        while self._held and self._held[0][0] <= now:
            _, _, request = heapq.heappop(self._held)
            self._backlog.append(request)
        while self._backlog and self.pool.free_slots() > 0:
            self._start(self._backlog.pop(0))

    # -- completions --------------------------------------------------------------------------
    def drain_completed(self, *, final: bool = False) -> None:
        """Store the results of finished tasks, then settle their messages, in batches.

        ``final`` (shutdown): results still waiting for a retry get one last attempt, and
        the messages of those that fail go back to the broker.
        """
        self.results.retry_due(final=final)
        finished: list[tuple[Request, Outcome]] = []
        while True:
            try:
                finished.append(self._completed.get_nowait())
            except queue.Empty:
                break
        if not finished:
            return
        self.total_processed += len(finished)
        for request, outcome in finished:
            self.active.pop(request.task_id, None)
            if outcome.state != states.SUCCESS:
                self._announce(request, outcome)
            name = request.task_name
            self.processed_by_task[name] = self.processed_by_task.get(name, 0) + 1
        if (events := self.dispatcher.events) is not None and events.tasks:
            events.task_finished(finished)
        batch_average = sum(o.runtime for _, o in finished) / len(finished)
        previous = self._average_runtime
        self._average_runtime = batch_average if previous is None else (
            0.7 * previous + 0.3 * batch_average)
        records = [(r.delivery.message, o.meta) for r, o in finished if o.meta is not None]
        try:
            self.results.submit(PendingBatch(records, len(finished),
                                             lambda: self._settle(finished),
                                             lambda: self._settle(finished, stored=False)),
                                final=final)
        finally:
            # Counted as running until settled or parked, so the window has no gap to
            # over-fetch in; uncounted even when settling raised (the broker's leases remain).
            self._in_pool -= len(finished)

    def _announce(self, request: Request, outcome: Outcome) -> None:
        """What the pool left to this thread: ``task_revoked`` for a terminated task, the
        failure hooks of one whose process could not run them (died, hard time limit)."""
        if outcome.state == states.REVOKED:  # terminated by revoke(terminate=True)
            self._signal_revoked(request.delivery.message, terminated=True)
        elif isinstance(outcome, UnannouncedFailure):
            self.runners(request.task_name).announce_failure(request, outcome)

    def _settle(self, finished: list[tuple[Request, Outcome]], stored: bool = True) -> None:
        """Settle the messages of finished tasks; unless their results were ``stored``, every
        message that would have been acknowledged goes back to the broker instead."""
        if stored and self.backend is not None:
            fire_chords(self.dispatcher.app, chord_parts(finished))
        acks = [r.delivery for r, o in finished if o.disposition is Disposition.ACK]
        if acks:
            if stored:
                self.channel.ack(acks)
            else:
                self.channel.reject(acks, requeue=True)
        for request, outcome in finished:
            if outcome.disposition is Disposition.REQUEUE:
                self.channel.reject([request.delivery], requeue=True)
            elif outcome.disposition is Disposition.SET_ASIDE:
                logger.error("Task %s[%s] set aside: %s", request.task_name, request.task_id,
                             outcome.reason)
                self.channel.set_aside(request.delivery, outcome.reason)

    # -- shutdown -------------------------------------------------------------------------------
    def release_in_flight(self) -> int:
        """Cold shutdown: hand back the messages of tasks still running (they run again)."""
        running = [request for request, _ in self.active.values()]
        self.active.clear()
        if running:
            self.channel.reject([r.delivery for r in running], requeue=True)
            logger.warning("Cold shutdown: returned %d running task(s) to the broker",
                           len(running))
        return len(running)

    def release_unstarted(self, unstarted: Sequence[Request]) -> int:
        """Hand every held, backlogged or never-started message back to the broker."""
        requests = [r for _, _, r in self._held] + self._backlog + list(unstarted)
        self._held, self._backlog = [], []
        if requests:
            self.channel.reject([r.delivery for r in requests], requeue=True)
            logger.info("Returned %d unstarted message(s) to the broker", len(requests))
        return len(requests)


__all__ = ["Consumer"]
