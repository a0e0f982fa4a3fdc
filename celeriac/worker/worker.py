"""The worker process: assembles the consumer, the pool and the heartbeat, and owns shutdown.

Threads: the consumer loop (``celeriac-consumer``), the heartbeat (``celeriac-heartbeat``),
gossip (``celeriac-gossip``, :mod:`celeriac.worker.gossip`) and the pool's own. The main
thread waits for signals, and once a second checks whether the broker connection was given up
(``broker_connection_max_retries`` spent: exit status 1).
When tasks run in this process (solo, threads pools) a lease keeper process
(``transport/lease_keeper.py``) renews the channel's liveness too (a task holding the GIL
must not make peers take this worker for dead). User bootsteps: ``worker/user_steps.py``.

* SIGTERM/SIGINT while starting (e.g. waiting for an unreachable broker): stop at once, exit 0.
* first SIGTERM/SIGINT: warm shutdown. Stop fetching, let running tasks finish (bounded by
  ``WorkerOptions.shutdown_timeout``), store and ack what finished, hand every held or
  unstarted message back, exit 0.
* second signal: cold shutdown. Stop now (after ``worker_soft_shutdown_timeout``, if set:
  see :mod:`celeriac.worker.soft_shutdown`); unacknowledged messages go back.
* SIGQUIT: exit at once; leases hand the messages back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.config.options import store_retry_policy
from celeriac.config.urls import scheme_of
from celeriac.control.mailbox import pidbox_exchanges
from celeriac.control.revocations import open_revocation_store
from celeriac.exceptions import OperationalError
from celeriac.execution.runner import TaskRunner
from celeriac.pools import create_pool
from celeriac.pools.base import PoolOptions
from celeriac.serialization.registry import normalize_accept
from celeriac.transport.lease_keeper import LeaseKeeper, start_keeper
from celeriac.utils.nodenames import expand_hostname, node_format
from celeriac.worker.broker_wait import (
    StartupInterrupted,
    declare_until_reachable,
    startup_policy,
)
from celeriac.worker.consumer import Consumer
from celeriac.worker.control.duplicates import DuplicateCheck, start_duplicate_check
from celeriac.worker.control.node import ControlNode
from celeriac.worker.dispatch import Dispatcher
from celeriac.worker.events import worker_events
from celeriac.worker.gossip import worker_gossip
from celeriac.worker.rate_limit import app_rate_limits
from celeriac.worker.revoked import RevokedRegistry
from celeriac.worker.scaling import Scaling, initial_concurrency
from celeriac.worker.soft_shutdown import SoftShutdown
from celeriac.worker.user_steps import UserSteps
from celeriac.worker.view import WorkerInspector

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transport.base import Channel

logger = logging.getLogger(__name__)

#: The window of ``worker_prefetch_multiplier = 0`` ("no limit" in Celery).
UNLIMITED_PREFETCH = 10_000


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Everything ``celeriac worker`` can be told, after CLI flags overlay the settings."""

    queues: Sequence[str] = ()
    concurrency: int = 0
    pool: str = "prefork"
    hostname: str = ""
    #: ``--prefetch-multiplier``; None: ``worker_prefetch_multiplier`` (see ``prefetch_window``).
    prefetch_multiplier: int | None = None
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    shutdown_timeout: float = 60.0
    #: ``-B``: run beat inside this worker; ``schedule_filename`` is its ``-s``.
    beat: bool = False
    schedule_filename: str | None = None
    #: ``--statedb`` (else ``worker_state_db``): where revoked ids survive a restart.
    statedb: str | None = None
    #: ``--autoscale max,min``: the autoscaler resizes the pool between them.
    autoscale: tuple[int, int] | None = None
    heartbeat_interval: float | None = None  # None: 2 s; 0: --without-heartbeat (no events)
    user_options: Mapping[str, Any] = field(default_factory=dict)  # app.user_options' values
    without_gossip: bool = False  # --without-gossip: no elections, no view of other workers

    def as_dict(self) -> dict[str, Any]:
        """The options as one flat dict (``celeryd_init``'s ``options``, as Celery's CLI's)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class Worker:
    """One worker process. ``run()`` blocks until shutdown and returns the exit code."""

    def __init__(self, app: Celery, options: WorkerOptions) -> None:
        self.app = app
        conf = app.conf
        self.options = options
        self.hostname = expand_hostname(options.hostname)
        # Celery's order: celeryd_init (before set-up: receivers may still change ``conf``),
        # worker_init and celeryd_after_setup (in ``setup``), worker_ready (in ``run``).
        signals.celeryd_init.send(sender=self.hostname, instance=self, conf=conf,
                                  options=options.as_dict())
        self.queues = list(options.queues) or [str(conf.task_default_queue)]
        self.accept = normalize_accept(conf.accept_content or ["json"])
        self.concurrency = initial_concurrency(options.concurrency or os.cpu_count() or 1,
                                               options.autoscale)
        # Built now: a store that cannot be built stops the worker before it takes a task.
        self.backend = app.backend if app.result_backend_url else None
        self.pool = create_pool(options.pool, PoolOptions(
            concurrency=self.concurrency, hostname=self.hostname,
            max_tasks_per_child=options.max_tasks_per_child or None,
            max_memory_per_child=options.max_memory_per_child or None))
        self.scaling = Scaling(app, self.pool, options.autoscale,
                               prefetch_for=lambda size: self.prefetch_window(size)[0])
        self.soft_shutdown = SoftShutdown(conf, self.pool)
        self._runners: dict[str, TaskRunner] = {}
        self._acks_late_cache: dict[str, bool] = {}
        self._stop = threading.Event()
        self._cold = threading.Event()
        self._signals_seen = 0
        self._shutdown_signal = ""
        self._starting = False
        self._exit_code = 0
        self.channel: Channel | None = None
        self.consumer: Consumer | None = None
        self.beat: Any = None
        self.abandoned = 0
        self.control_node: ControlNode | None = None
        self.revoked = RevokedRegistry()
        self.nodename_check: DuplicateCheck | None = None
        self.lease_keeper: LeaseKeeper | None = None
        self.user_steps = UserSteps(self)  # app.steps: bound now, as Celery binds them

    # -- assembly -------------------------------------------------------------------------
    def runner_for(self, name: str) -> TaskRunner:
        runner = self._runners.get(name)
        if runner is None:
            runner = self._runners[name] = TaskRunner(self.app, self.app.tasks[name], self.accept)
        return runner

    def _acks_late(self, name: str) -> bool:
        cached = self._acks_late_cache.get(name)
        if cached is None:
            value = getattr(self.app.tasks.get(name), "acks_late", None)
            cached = self._acks_late_cache[name] = bool(
                self.app.conf.task_acks_late if value is None else value)
        return cached

    def prefetch_window(self, concurrency: int | None = None) -> tuple[int, bool]:
        """How many messages may be leased at once, and whether the window may widen.

        A multiplier the user chose (``--prefetch-multiplier``, ``worker_prefetch_multiplier``
        or ``CELERYD_PREFETCH_MULTIPLIER``) makes ``concurrency x multiplier`` a hard
        ceiling, as in Celery; only the default lets the window widen for short tasks.
        0 means no limit, as in Celery (bounded here by ``UNLIMITED_PREFETCH``).
        """
        conf = self.app.conf
        multiplier = self.options.prefetch_multiplier
        chosen = multiplier is not None or conf.value_set_for("worker_prefetch_multiplier")
        if multiplier is None:
            multiplier = int(conf.worker_prefetch_multiplier)
        size = concurrency or self.concurrency  # the pool's size once resized
        limit = size * multiplier if multiplier > 0 else UNLIMITED_PREFETCH
        return limit, not chosen

    def setup(self) -> Consumer:
        self.app.loader.init_worker()  # imports, autodiscovery, loader.on_worker_init
        signals.worker_init.send(sender=self)
        signals.celeryd_after_setup.send(sender=self.hostname, instance=self, conf=self.app.conf)
        transport = self.app.transport
        self.channel = channel = transport.channel()
        self._declare_until_reachable(channel)
        self.revoked = RevokedRegistry(open_revocation_store(transport),
                                       statedb=self.statedb_path())
        self.revoked.load_state()
        self.revoked.refresh()
        dispatcher = Dispatcher(self.app, self.hostname, self.accept,
                                transport.capabilities.delayed_delivery, self._acks_late,
                                self.revoked)
        limit, adaptive = self.prefetch_window()
        self.consumer = Consumer(channel, self.queues, self.pool, dispatcher,
                                 self.backend, limit, app_rate_limits(self.app),
                                 self.revoked, inline_fetch=self._inline_fetch(transport),
                                 adaptive_window=adaptive,
                                 store_retry=store_retry_policy(self.app.conf),
                                 runners=self.runner_for)
        self.pool.start(self.runner_for, self.consumer.on_outcome)
        self.scaling.start(self.consumer)
        dispatcher.events = self.events = worker_events(self, channel)
        self.gossip = worker_gossip(self.app, self.events.dispatcher, self.options.without_gossip)
        view = WorkerInspector(self.app, self.hostname, self.consumer, self.pool, self.queues,
                               self.revoked, self.stop, scaling=self.scaling, events=self.events,
                               gossip=self.gossip)
        self.control_node = ControlNode(
            channel, view, broker=f"{scheme_of(self.app.broker_url)}://",
            exchange=pidbox_exchanges(self.app.conf.control_exchange)[0])
        return self.consumer

    def statedb_path(self) -> str | None:
        """``--statedb``, else ``worker_state_db``, with Celery's ``%n``/``%h``... expanded."""
        template = self.options.statedb or self.app.conf.worker_state_db
        return node_format(str(template), self.hostname) if template else None

    def _inline_fetch(self, transport: Any) -> bool:
        """Solo pool on a pushing broker: fetch on the consumer thread (``InlineFetcher``)."""
        return self.pool.name == "solo" and bool(transport.capabilities.pushes)

    def _declare_until_reachable(self, channel: Channel) -> None:
        """Declare the queues, waiting for the broker as ``broker_connection_*`` say. Raises
        ``StartupInterrupted`` (stop requested) or ``OperationalError`` (unreachable, refused)."""
        if not declare_until_reachable(channel, self.queues, startup_policy(self.app.conf),
                                       self._stop):
            raise StartupInterrupted()

    # -- running --------------------------------------------------------------------------
    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            self._install_signal_handlers()
        self._starting = True
        try:
            consumer = self.setup()
        except (StartupInterrupted, OperationalError) as exc:
            return self._abort_start(exc)
        finally:
            self._starting = False
        self.lease_keeper = self._start_lease_keeper()
        threads = [
            threading.Thread(target=self._consume, args=(consumer,), name="celeriac-consumer"),
            threading.Thread(target=self._heartbeat, name="celeriac-heartbeat"),
        ]
        threads[1].start()
        self.gossip.start()  # listening before an election command can come
        assert self.control_node is not None
        listening = False
        if self.app.conf.worker_enable_remote_control:
            listening = self.control_node.start()
        else:  # as Celery: no inspect/control/broadcast revoke (the revocation store still works)
            logger.info("Remote control is disabled (worker_enable_remote_control=False)")
        self.nodename_check = start_duplicate_check(
            self.app.transport, self.hostname, listening,
            pidbox_exchanges(self.app.conf.control_exchange))
        self.user_steps.start()
        # Ready before the first task runs, as in Celery: handlers may prepare for tasks.
        logger.info("%s ready.", self.hostname)
        signals.worker_ready.send(sender=self)
        self.events.start()  # worker-online, then a heartbeat every freq s
        threads[0].start()
        self._start_embedded_beat()
        while not self._stop.wait(1.0):
            self._stop_if_broker_lost()
        return self._shutdown(consumer, threads) or self._exit_code

    def _stop_if_broker_lost(self) -> None:
        """Reconnecting ran out of ``broker_connection_max_retries`` (or retrying is off):
        stop with status 1 and one line, as Celery's worker does, instead of retrying forever.
        Channels that reconnect on their own expose ``connection_lost``; others never lose it.
        """
        lost = getattr(self.channel, "connection_lost", None)
        if lost is not None:
            logger.critical("%s Stopping the worker (broker_connection_retry=%s, "
                            "broker_connection_max_retries=%s).", lost,
                            self.app.conf.broker_connection_retry,
                            self.app.conf.broker_connection_max_retries)
            self._exit_code = 1
            self.stop()

    def _abort_start(self, exc: BaseException) -> int:
        """Stop before running anything: 0 after a stop request, else 1 with one clear line."""
        with contextlib.suppress(Exception):
            self.pool.stop(graceful=False, timeout=0)
        with contextlib.suppress(Exception):
            self.app.close()
        if isinstance(exc, StartupInterrupted):
            logger.warning("Stopped while starting (%s)", self.hostname)
            return 0
        logger.critical("%s", exc)
        return 1

    def _start_embedded_beat(self) -> None:
        """``-B``: run the scheduler inside this worker (one active beat per broker anyway)."""
        if not self.options.beat:
            return
        from celeriac.beat.embedded import BeatService

        self.beat = BeatService(self.app, self.options.schedule_filename)
        self.beat.start()

    def _start_lease_keeper(self) -> LeaseKeeper | None:
        """A keeper process for pools that run tasks in this process (prefork's run in its
        children, so this process's GIL stays free for the heartbeat thread)."""
        if self.pool.name == "prefork":
            return None
        assert self.channel is not None
        return start_keeper(self.channel, self.app.transport_options.heartbeat_interval)

    def _consume(self, consumer: Consumer) -> None:
        while not consumer.stop_fetching.is_set():
            try:
                consumer.run()
            except Exception as exc:
                logger.error("Consumer error, retrying in 1s: %r", exc, exc_info=True)
                self._stop.wait(1.0)

    def _heartbeat(self) -> None:
        assert self.channel is not None
        interval = self.app.transport_options.heartbeat_interval
        while not self._stop.wait(interval):
            if self.lease_keeper is not None:
                self.lease_keeper.ensure_running()
            try:
                restored = self.channel.heartbeat()
                if restored:
                    logger.warning("Restored %d message(s) of a dead worker", restored)
                self.revoked.refresh()
            except Exception as exc:
                logger.warning("Heartbeat failed: %r", exc)

    def stop(self, cold: bool = False) -> None:
        if cold:
            self._cold.set()
        self._stop.set()

    def _shutdown(self, consumer: Consumer, threads: list[threading.Thread]) -> int:
        cold = self._cold.is_set()
        logger.warning("%s shutdown (%s)", "Cold" if cold else "Warm", self.hostname)
        # As Celery: the node name as sender, the signal's name, "Warm" or "Cold".
        signals.worker_shutting_down.send(sender=self.hostname, sig=self._shutdown_signal,
                                          how="Cold" if cold else "Warm", exitcode=0)
        if self.beat is not None:
            self.beat.stop()
        self.gossip.stop(wait=False)  # its thread ends its last poll while the pool drains
        # During an outage the consumer and heartbeat threads sit in the broker's reconnect
        # backoff: end it, so shutdown is prompt (``stop_retrying``, where channels have it).
        stop_retrying = getattr(self.channel, "stop_retrying", None)
        if stop_retrying is not None:
            stop_retrying()
        consumer.stop_fetching.set()
        threads[0].join()
        self.user_steps.stop()
        self.scaling.stop()  # no resizing while the pool stops
        graceful, timeout = self.soft_shutdown.pool_wait(cold, len(consumer.active),
                                                         self.options.shutdown_timeout)
        unstarted = self.pool.stop(graceful=graceful, timeout=timeout)
        if self._cold.is_set():
            self.soft_shutdown.wait_out_idle()
        self.soft_shutdown.close()
        consumer.drain_completed(final=True)
        consumer.release_unstarted(unstarted)
        if self._cold.is_set():
            self.abandoned = consumer.release_in_flight()
        threads[1].join()
        self.gossip.stop()
        self.events.stop()  # the last task events, then worker-offline
        if self.lease_keeper is not None:  # before the channel deregisters on close
            self.lease_keeper.stop()
        if self.control_node is not None:
            self.control_node.stop()
        if self.nodename_check is not None:  # its connection closes before the app's
            self.nodename_check.finish(timeout=3.0)
        self.revoked.save_state()
        self.revoked.store.close()  # RabbitMQ's holds connections of its own
        signals.worker_shutdown.send(sender=self)
        assert self.channel is not None
        self.channel.close()
        self.app.close()
        return 0

    def _install_signal_handlers(self) -> None:
        def on_term(signum: int, frame: FrameType | None) -> None:
            self._signals_seen += 1
            self._shutdown_signal = signal.Signals(signum).name.removeprefix("SIG")
            cold = self._signals_seen > 1
            self.stop(cold=cold)
            if cold:  # hurry the pool now, or after worker_soft_shutdown_timeout
                consumer = self.consumer
                self.soft_shutdown.begin(len(consumer.active) if consumer is not None else 0)
            if self._starting:  # e.g. blocked connecting to a broker: end that at once
                raise StartupInterrupted()

        def on_quit(signum: int, frame: FrameType | None) -> None:
            os._exit(1)

        handlers: dict[int, Callable[[int, FrameType | None], None]] = {
            signal.SIGTERM: on_term, signal.SIGINT: on_term, signal.SIGQUIT: on_quit}
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
