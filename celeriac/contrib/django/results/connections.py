"""Django set-up and database-connection handling for the ``django-db``/``django-cache`` stores.

A store can be built before anybody set Django up (a worker started with
``DJANGO_SETTINGS_MODULE`` but without the Django fix-up): ``ensure_django`` then calls
``django.setup()`` once.

Django keeps one connection per thread and reconnects only when asked. A connection the
server dropped (restart, idle timeout, ``pg_terminate_backend``) stays broken, so every later
write on that thread would fail. ``on_connection`` closes such a connection and runs the
operation once more on a fresh one; if that fails too, the error becomes celeriac's
``OperationalError``, which ``result_backend_always_retry`` retries (as
``django-celery-results`` retries its ``InterfaceError``).

Django closes a request's connection when the request ends; nothing closes one that a store
opened on some other thread (a client thread waiting for a result, a worker's writer thread).
``on_connection`` therefore closes the connections a non-main thread used when that thread
ends, instead of leaving them to the garbage collector.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import django
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.utils import InterfaceError
from django.db.utils import OperationalError as DjangoOperationalError

from celeriac.exceptions import ImproperlyConfigured, OperationalError

T = TypeVar("T")


def ensure_django() -> None:
    """Set Django up if settings exist and nobody has (the fix-up normally does).

    Raises:
        ImproperlyConfigured: no Django settings at all (neither configured nor
            ``DJANGO_SETTINGS_MODULE``), or the app is not in ``INSTALLED_APPS``.
    """
    if not apps.ready:
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise ImproperlyConfigured(
                "result_backend 'django-db'/'django-cache' needs Django settings: set "
                "DJANGO_SETTINGS_MODULE (or call settings.configure()) before the worker starts")
        django.setup()
    if not apps.is_installed("celeriac.contrib.django.results"):
        raise ImproperlyConfigured(
            "result_backend 'django-db'/'django-cache' needs 'celeriac.contrib.django.results'"
            " in INSTALLED_APPS (in place of 'django_celery_results', whose tables it uses)")


def refuse_url_parts(url: str, chooser: str) -> None:
    """The stores' ``result_backend`` is a bare name (``django-db``, or ``django-db://``):
    Django's settings choose the database or cache, so anything more would be ignored.

    Raises:
        ImproperlyConfigured: ``url`` has a host, path or query.
    """
    scheme, _, rest = url.partition("://")
    if rest:
        raise ImproperlyConfigured(
            f"result_backend {scheme!r} takes no host, path or options ({scheme}://...): "
            f"{chooser}")


def on_connection(using: str, what: str, operation: Callable[[], T]) -> T:
    """Run ``operation`` on database ``using``; after a connection error, close the broken
    connection and run it once more (outside a transaction only: inside one, the caller's
    transaction is lost and must fail).

    Raises:
        OperationalError: the database is unreachable (the message names ``what``).
    """
    errors = (InterfaceError, DjangoOperationalError)
    connection: Any = connections[using]
    _close_at_thread_exit(using, connection)
    try:
        return operation()
    except errors as exc:
        if connection.in_atomic_block:
            raise _unreachable(using, what, exc) from exc
        connection.close()
    try:
        return operation()
    except errors as exc:
        connection.close()
        raise _unreachable(using, what, exc) from exc


class _ThreadConnections:
    """Held in a thread-local: dropped when its thread ends, closing what the thread opened."""

    def __init__(self) -> None:
        self.wrappers: dict[str, Any] = {}

    def __del__(self) -> None:
        for wrapper in self.wrappers.values():
            # The raw connection: Django's close() refuses to run outside its thread, and
            # this may run in whichever thread drops the last reference.
            raw = getattr(wrapper, "connection", None)
            if raw is not None:
                with contextlib.suppress(Exception):
                    raw.close()


_this_thread = threading.local()


def _close_at_thread_exit(using: str, connection: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        return  # the main thread's connections are Django's (or the process's) to close
    held: _ThreadConnections | None = getattr(_this_thread, "held", None)
    if held is None:
        held = _this_thread.held = _ThreadConnections()
    held.wrappers.setdefault(using, connection)


def _unreachable(using: str, what: str, exc: BaseException) -> OperationalError:
    return OperationalError(f"Django database {using!r} failed while trying to {what}: {exc}")


__all__ = ["ensure_django", "on_connection", "refuse_url_parts"]
