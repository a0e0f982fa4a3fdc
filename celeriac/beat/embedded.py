"""Running beat: building the configured scheduler, and ``BeatService`` for ``worker -B``.

``celeriac beat`` runs the scheduler loop in its main thread; ``worker -B`` runs the same loop
in a ``BeatService`` thread beside the consumer. Either way the lease
(:mod:`celeriac.beat.lock`) keeps a second beat on the same broker from sending, so ``-B`` on
every worker is safe: one sends, the others stand by.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from celeriac.beat.scheduler import Scheduler
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

#: Scheduler paths from Celery configs that mean "the default scheduler" here.
_CELERY_DEFAULTS = (
    "celery.beat:PersistentScheduler",
    "celery.beat.PersistentScheduler",
    "celery.beat:Scheduler",
    "celery.beat.Scheduler",
)
#: django-celery-beat's scheduler (it needs Celery's beat) -> celeriac's one on the same tables.
DATABASE_SCHEDULER = "celeriac.contrib.django.beat.schedulers:DatabaseScheduler"
_ALIASES = {
    "django_celery_beat.schedulers:DatabaseScheduler": DATABASE_SCHEDULER,
    "django_celery_beat.schedulers.DatabaseScheduler": DATABASE_SCHEDULER,
}


def scheduler_class(spec: str | type[Any] | None, *, from_config: bool = False) -> type[Scheduler]:
    """The scheduler class ``spec`` names (``module:Class`` or ``module.Class``), or the default.

    Celery's own default path maps to :class:`Scheduler`, django-celery-beat's
    ``DatabaseScheduler`` to celeriac's (on the same tables), even when that package is
    installed. Another path from the configuration (``beat_scheduler``) into Celery or
    django-celery-beat is ignored with a warning, since those classes need Celery itself; a
    path given on the command line must import.

    Raises:
        ImproperlyConfigured: the path does not import, or is not a ``Scheduler`` subclass.
    """
    if spec is None or spec in _CELERY_DEFAULTS or spec is Scheduler:
        return Scheduler
    if isinstance(spec, str):
        spec = _ALIASES.get(spec, spec)
        if from_config and spec.startswith(("celery.", "django_celery_beat")):
            logger.warning(
                "beat: ignoring beat_scheduler=%r (a Celery scheduler); using celeriac's Scheduler",
                spec,
            )
            return Scheduler
        from celeriac.utils.imports import import_symbol

        try:
            spec = import_symbol(spec)
        except Exception as exc:
            raise ImproperlyConfigured(f"Cannot import beat scheduler {spec!r}: {exc}") from exc
    if not (isinstance(spec, type) and issubclass(spec, Scheduler)):
        raise ImproperlyConfigured(
            f"beat scheduler {spec!r} is not a subclass of celeriac.beat.scheduler.Scheduler"
        )
    return spec


def build_scheduler(
    app: Celery,
    scheduler: str | type[Any] | None = None,
    schedule_filename: str | None = None,
    max_interval: float | None = None,
) -> Scheduler:
    """The scheduler a beat of ``app`` runs: class from ``scheduler`` (else ``beat_scheduler``),
    options from the arguments (else the ``beat_*`` settings).

    Imports the app's task modules first and fires ``on_after_configure``, so entries added with
    ``add_periodic_task`` in a handler are there before the first tick.
    """
    app.loader_import_modules()
    if scheduler is not None:
        cls = scheduler_class(scheduler)
    else:
        cls = scheduler_class(app.conf.get("beat_scheduler"), from_config=True)
    # Celery's ``Service.get_scheduler`` call, so subclasses written for Celery construct.
    return cls(app=app, schedule_filename=schedule_filename, max_interval=max_interval)


def send_beat_init(scheduler: Scheduler | Service, *, embedded: bool) -> None:
    """``beat_init``, then ``beat_embedded_init`` for ``worker -B``, as Celery's beat sends
    them when its loop starts. The sender is the :class:`Service` when one runs the loop, as in
    Celery, else the scheduler (both carry ``.app``)."""
    from celeriac import signals

    signals.beat_init.send(sender=scheduler)
    if embedded:
        signals.beat_embedded_init.send(sender=scheduler)


class BeatService:
    """Beat as a thread of a worker (``-B``): ``start()`` returns at once, ``stop()`` joins.

    Args:
        app: the worker's app.
        schedule_filename: the ``-s`` value; None means ``beat_schedule_filename``.
        max_interval: seconds; None means ``beat_max_loop_interval`` (else 300).
        scheduler: a scheduler class or path; None means ``beat_scheduler``.

    The scheduler is built in ``start()`` on the caller's thread, so a bad configuration
    raises there instead of dying silently in the thread.
    """

    def __init__(
        self,
        app: Celery,
        schedule_filename: str | None = None,
        max_interval: float | None = None,
        scheduler: str | type[Any] | None = None,
    ) -> None:
        self.app = app
        self.schedule_filename = schedule_filename
        self.max_interval = max_interval
        self.scheduler_spec = scheduler
        self.scheduler: Scheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.scheduler = build_scheduler(
            self.app, self.scheduler_spec, self.schedule_filename, self.max_interval
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="celeriac-beat", daemon=False)
        self._thread.start()

    def _run(self) -> None:
        assert self.scheduler is not None
        try:
            send_beat_init(self.scheduler, embedded=True)
            self.scheduler.run(self._stop)
        except Exception:  # thread boundary: report; the worker keeps consuming
            logger.critical("beat: the embedded scheduler stopped on an error", exc_info=True)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop ticking, release the lease (a standby takes over) and join the thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class Service:
    """Celery's ``celery.beat.Service``: runs a scheduler in the calling thread.

    ``start()`` ticks until ``stop()`` (from another thread or a signal handler); ``sync()``
    saves the run state and releases the lease. ``celeriac beat`` and ``worker -B`` build on
    the same scheduler; this class is for code that drives beat itself, as with Celery.
    """

    scheduler_cls: type[Scheduler] = Scheduler

    def __init__(self, app: Celery, max_interval: float | None = None,
                 schedule_filename: str | None = None,
                 scheduler_cls: str | type[Any] | None = None,
                 remote_control: bool | None = None, hostname: str | None = None) -> None:
        if remote_control:  # the setting is marked unsupported in the schema (it warns)
            raise ImproperlyConfigured(
                "beat remote control (beat_enable_remote_control) is not supported by celeriac")
        self.app = app
        self.remote_control = False
        self.hostname = hostname
        self.max_interval = max_interval
        self.schedule_filename = schedule_filename
        self.scheduler_cls = scheduler_class(scheduler_cls) if scheduler_cls else self.scheduler_cls
        self._is_shutdown = threading.Event()
        self._is_stopped = threading.Event()

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.app, self.max_interval, self.schedule_filename,
                                self.scheduler_cls, self.remote_control, self.hostname)

    def start(self, embedded_process: bool = False) -> None:
        logger.info("beat: Starting...")
        send_beat_init(self, embedded=embedded_process)
        try:
            while not self._is_shutdown.is_set():
                self._is_shutdown.wait(self.scheduler._safe_tick())
                if self.scheduler.should_sync():
                    self.scheduler._do_sync()
        finally:
            self.sync()

    def sync(self) -> None:
        self.scheduler.close()
        self._is_stopped.set()

    def stop(self, wait: bool = False) -> None:
        logger.info("beat: Shutting down...")
        self._is_shutdown.set()
        if wait:
            self._is_stopped.wait()

    def get_scheduler(self, lazy: bool = False) -> Scheduler:
        """A scheduler of ``scheduler_cls`` built as Celery builds it."""
        self.app.loader_import_modules()
        return self.scheduler_cls(app=self.app, schedule_filename=self.schedule_filename,
                                  max_interval=self.max_interval, lazy=lazy)

    @cached_property
    def scheduler(self) -> Scheduler:
        return self.get_scheduler()


class _Threaded(threading.Thread):
    """Celery's embedded beat thread: a :class:`Service` run by ``start()``, ``stop()`` joins."""

    def __init__(self, app: Celery, **kwargs: Any) -> None:
        super().__init__(name="Beat", daemon=True)
        self.app = app
        self.service = Service(app, **kwargs)

    def run(self) -> None:
        self.service.start(embedded_process=True)

    def stop(self) -> None:
        self.service.stop(wait=True)


def EmbeddedService(app: Celery, max_interval: float | None = None,
                    **kwargs: Any) -> _Threaded:
    """Beat in a thread of this process (Celery's ``EmbeddedService``). Celery may use a child
    process instead; celeriac always uses a thread (``thread=`` is accepted for that reason),
    as ``worker -B`` does."""
    kwargs.pop("thread", None)
    return _Threaded(app, max_interval=max_interval, **kwargs)
