"""The app's connections: broker URL, transport, producer, result store, router, control.

Each is built on first use, under the app's lock, from the current settings, and forgotten
after ``fork`` (a child opens its own) or when the configuration is reloaded. Split out of
``app/base.py`` so the facade stays about tasks and configuration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from celeriac.app.routing import TaskRouter
from celeriac.config.options import backend_options, transport_options

if TYPE_CHECKING:
    from celeriac.app.events import Events
    from celeriac.app.producer import Producer
    from celeriac.backends.base import ResultBackend
    from celeriac.config import Settings
    from celeriac.config.frozen import TransportOptions
    from celeriac.control import Control
    from celeriac.transport.base import Transport

DEFAULT_SQLITE_FILE = "celeriac.db"


class AppConnections:
    """Mixin of ``Celery``: everything that talks to a broker or a store, built lazily."""

    conf: Settings
    oid: str
    _lock: threading.RLock
    _transport: Transport | None
    _producer: Producer | None
    _backend: ResultBackend | None
    _router: TaskRouter | None
    _control: Control | None
    _events: Events | None = None
    _before_publish: Callable[[str], None] | None

    @property
    def broker_url(self) -> str:
        """The configured broker URL, or the embedded SQLite default in the working folder."""
        url = self.conf.broker_url
        if url:
            return str(url)
        return f"sqlite:///{os.path.abspath(DEFAULT_SQLITE_FILE)}"

    @property
    def result_backend_url(self) -> str | None:
        url = self.conf.result_backend
        if url:
            return str(url)
        if not self.conf.broker_url:
            return self.broker_url
        return None

    @property
    def timezone(self) -> tzinfo:
        """The app's ``timezone`` as a ``ZoneInfo`` (UTC when unset), used for naive times."""
        name = self.conf.timezone
        if not name:
            return UTC
        if isinstance(name, tzinfo):
            return name
        from zoneinfo import ZoneInfo

        return ZoneInfo(str(name))

    def now(self) -> datetime:
        """The current time, aware, in the app's timezone (Celery's ``app.now()``)."""
        return datetime.now(self.timezone)

    @property
    def transport_options(self) -> TransportOptions:
        return transport_options(self.conf, self.broker_url)

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    from celeriac.transport import resolve_transport

                    self._transport = resolve_transport(self.broker_url, self.transport_options)
        return self._transport

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    from celeriac.app.producer import Producer

                    self._producer = Producer(
                        self.transport,
                        retry=bool(self.conf.task_publish_retry),
                        retry_policy=self.conf.task_publish_retry_policy,
                    )
        return self._producer

    @property
    def backend(self) -> ResultBackend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    from celeriac.backends import resolve_backend

                    url = self.result_backend_url
                    self._backend = resolve_backend(
                        url, backend_options(self.conf, self.oid, url),
                        broker_url=self.broker_url,
                    )
                    self._before_publish = getattr(self._backend, "on_task_call", None)
        return self._backend

    @property
    def router(self) -> TaskRouter:
        if self._router is None:
            from celeriac.routing.queues import queue_set

            self._router = TaskRouter(self.conf.task_routes, self.conf.task_default_queue,
                                      queue_set(self.conf))
        return self._router

    @property
    def control(self) -> Control:
        """Remote control of workers (revoke, rate_limit, inspect, ...), as ``app.control``."""
        if self._control is None:
            with self._lock:
                if self._control is None:
                    from celeriac.control import Control

                    self._control = Control(self)  # type: ignore[arg-type]  # self is a Celery
        return self._control

    @property
    def events(self) -> Events:
        """Celery's ``app.events``: event dispatchers, the client's ``task-sent``."""
        if self._events is None:
            with self._lock:
                if self._events is None:
                    from celeriac.app.events import Events

                    self._events = Events(self)  # type: ignore[arg-type]  # self is a Celery
        return self._events

    def _reset_lazy(self) -> None:
        self._events = None
        self._before_publish = None
        self._control = None
        self._transport = None
        self._producer = None
        self._backend = None
        self._router = None

    def _after_fork(self) -> None:
        """Forget connections made by the parent; the child opens its own on first use."""
        self._lock = threading.RLock()
        self._reset_lazy()

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._control is not None:
            self._control.close()
        if self._producer is not None:
            self._producer.close()
        if self._backend is not None:
            self._backend.close()
        if self._transport is not None:
            self._transport.close()
        self._reset_lazy()

