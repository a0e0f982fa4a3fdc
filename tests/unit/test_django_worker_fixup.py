"""The worker fix-up's helpers that need no configured Django (the receivers themselves run
against real PostgreSQL in tests/integration/test_django_fixup.py)."""

from __future__ import annotations

import os
import socket
from typing import Any

from celeriac.contrib.django.worker_fixup import _close_descriptor, _is_eager, _pool_enabled
from celeriac.execution.context import Context


class _Socketed:
    """A driver connection as far as ``_close_descriptor`` looks: it has ``fileno()``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_close_descriptor_closes_the_socket_without_a_goodbye() -> None:
    left, right = socket.socketpair()
    try:
        fd = left.fileno()
        _close_descriptor(_Socketed(left))
        try:
            os.fstat(fd)
        except OSError:
            pass
        else:
            raise AssertionError("the descriptor is still open")
        _close_descriptor(_Socketed(left))  # already closed: quietly nothing
        left.detach()  # the socket object must not close the (now free) number again
    finally:
        right.close()


def test_close_descriptor_ignores_connections_without_one() -> None:
    _close_descriptor(object())  # no fileno (sqlite3's connection, say)


def test_eager_requests_are_told_apart() -> None:
    class FakeTask:
        def __init__(self, request: Any) -> None:
            self.request = request

    assert _is_eager(FakeTask(Context(is_eager=True)))
    assert not _is_eager(FakeTask(Context()))
    assert not _is_eager(None)


def test_pool_enabled_reads_django_51_pool_option() -> None:
    class Wrapper:
        def __init__(self, options: dict[str, Any] | None, has_close_pool: bool) -> None:
            self.settings_dict = {"OPTIONS": options} if options is not None else {}
            if has_close_pool:
                self.close_pool = lambda: None

    assert _pool_enabled(Wrapper({"pool": True}, True))
    assert not _pool_enabled(Wrapper({"pool": True}, False))  # Django < 5.1
    assert not _pool_enabled(Wrapper({}, True))
    assert not _pool_enabled(Wrapper(None, True))


def test_db_reuse_max_closes_every_n_tasks_instead() -> None:
    from celeriac import Celery
    from celeriac.contrib.django.worker_fixup import DjangoWorkerFixup

    app = Celery("reuse", broker="memory://", set_as_current=False, fixups=())
    app.conf.update(db_reuse_max=2)
    fixup = DjangoWorkerFixup(app)
    calls: list[int] = []
    fixup.close_all_connections = lambda: calls.append(1)  # type: ignore[method-assign]
    closed = []
    for _ in range(9):  # prerun and postrun of each task
        fixup.close_database()
        closed.append(len(calls))
    assert closed == [0, 0, 0, 0, 1, 1, 1, 1, 2]
