"""Remote debugger for tasks, as Celery's ``celery.contrib.rdb``: a ``pdb`` on a TCP socket.

A task running in a worker (a prefork child has no terminal) calls ``rdb.set_trace()``; the
debugger listens, logs ``Ready to connect: telnet HOST PORT`` and waits for one client, then
speaks ``pdb`` over that connection. ``c`` (continue) or ``q`` ends the session.

Environment (read at import, as Celery does):

* ``CELERIAC_RDB_HOST`` / ``CELERY_RDB_HOST``: address to bind, default ``127.0.0.1`` (local
  only: anyone who can connect can run code in the worker).
* ``CELERIAC_RDB_PORT`` / ``CELERY_RDB_PORT``: base port, default 6899. A prefork child
  ``ForkPoolWorker-N`` starts its search at base + N, and the first free port of the next 100
  is taken, so concurrent children do not collide.

The ``CELERIAC_`` name wins when both are set.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import socket
import sys
from pdb import Pdb
from types import FrameType
from typing import IO, Any, Final

DEFAULT_PORT: Final = 6899


def _env(name: str) -> str | None:
    return os.environ.get(f"CELERIAC_{name}") or os.environ.get(f"CELERY_{name}") or None


CELERY_RDB_HOST: Final = _env("RDB_HOST") or "127.0.0.1"
CELERY_RDB_PORT: Final = int(_env("RDB_PORT") or DEFAULT_PORT)

#: Holds the currently active debugger (Celery's name and shape).
_current: list[Rdb | None] = [None]

NO_AVAILABLE_PORT: Final = """\
{self.ident}: Couldn't find an available port.

Please specify one using the CELERY_RDB_PORT environment variable.
"""

BANNER: Final = """\
{self.ident}: Ready to connect: telnet {self.host} {self.port}

Type `exit` in session to continue.

{self.ident}: Waiting for client...
"""

SESSION_STARTED: Final = "{self.ident}: Now in session with {self.remote_addr}."
SESSION_ENDED: Final = "{self.ident}: Session with {self.remote_addr} ended."


class Rdb(Pdb):
    """Remote debugger: binds, waits for one client, then runs ``pdb`` over its socket."""

    me = "Remote Debugger"
    _prev_outs = None
    _sock: socket.socket | None = None

    def __init__(self, host: str = CELERY_RDB_HOST, port: int = CELERY_RDB_PORT,
                 port_search_limit: int = 100, port_skew: int = +0,
                 out: IO[str] = sys.stdout) -> None:
        self.active = True
        self.out = out
        self._prev_handles = sys.stdin, sys.stdout
        self.ident = f"{self.me}:{port}"
        self._sock, this_port = self.get_avail_port(host, port, port_search_limit, port_skew)
        self._sock.setblocking(True)
        self._sock.listen(1)
        self.ident = f"{self.me}:{this_port}"
        self.host = host
        self.port = this_port
        self.say(BANNER.format(self=self))

        self._client, address = self._sock.accept()
        self._client.setblocking(True)
        self.remote_addr = ":".join(str(v) for v in address)
        self.say(SESSION_STARTED.format(self=self))
        self._handle: IO[str] | None = self._client.makefile("rw")
        sys.stdin = sys.stdout = self._handle
        super().__init__(completekey="tab", stdin=self._handle, stdout=self._handle)

    def get_avail_port(self, host: str, port: int, search_limit: int = 100,
                       skew: int = +0) -> tuple[socket.socket, int]:
        """Bind the first free port from ``port + skew``; a prefork child's index is the skew."""
        try:
            _, index = multiprocessing.current_process().name.split("-")
            skew = int(index)
        except ValueError:
            pass
        for i in range(search_limit):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            this_port = port + skew + i
            try:
                sock.bind((host, this_port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EINVAL):
                    continue
                raise
            return sock, this_port
        raise Exception(NO_AVAILABLE_PORT.format(self=self))

    def say(self, m: str) -> None:
        print(m, file=self.out)

    def __enter__(self) -> Rdb:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_session()

    def _close_session(self) -> None:
        self.stdin, self.stdout = sys.stdin, sys.stdout = self._prev_handles
        if self.active:
            if self._handle is not None:
                self._handle.close()
            if self._client is not None:
                self._client.close()
            if self._sock is not None:
                self._sock.close()
            self.active = False
            self.say(SESSION_ENDED.format(self=self))

    def do_continue(self, arg: str) -> bool:
        self._close_session()
        self.set_continue()
        return True

    do_c = do_cont = do_continue

    def do_quit(self, arg: str) -> bool:
        self._close_session()
        self.set_quit()
        return True

    do_q = do_exit = do_quit

    def set_quit(self) -> None:
        # Stop tracing instead of raising BdbQuit, which would fail the task.
        sys.settrace(None)


def debugger() -> Rdb:
    """Return the current debugger instance, or create one (which waits for a client)."""
    rdb = _current[0]
    if rdb is None or not rdb.active:
        rdb = _current[0] = Rdb()
    return rdb


def set_trace(frame: FrameType | None = None) -> Any:
    """Set a breakpoint at the caller's line (or in ``frame``) and wait for a client."""
    if frame is None:
        frame = sys._getframe().f_back
    return debugger().set_trace(frame)


__all__ = ["CELERY_RDB_HOST", "CELERY_RDB_PORT", "DEFAULT_PORT", "Rdb", "debugger",
           "set_trace"]
