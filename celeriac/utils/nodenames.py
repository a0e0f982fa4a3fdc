"""Node names (``name@host``) and Celery's codes in them (``-n w1@%h``) and in paths
(``--statedb=/var/run/celeriac/%n.state``); also the ``celery.utils.nodenames`` import path.

The default name half is ``celeriac`` (a bare ``celeriac worker`` is ``celeriac@<host>``), where
Celery's is ``celery``. ``worker_direct`` (a kombu ``Queue``) is not offered: celeriac's queues
live in :mod:`celeriac.routing`, above this module.
"""

from __future__ import annotations

import os
import re
import socket
from functools import cache
from typing import Any, Final

NODENAME_SEP: Final = "@"
NODENAME_DEFAULT: Final = "celeriac"


@cache
def gethostname() -> str:
    """This host's name, read once (Celery memoizes it too)."""
    return socket.gethostname()


def nodename(name: str, hostname: str) -> str:
    """``name@hostname``."""
    return NODENAME_SEP.join((name, hostname))


def anon_nodename(hostname: str | None = None, prefix: str = "gen") -> str:
    """The node name of a process that is not a worker: ``gen<pid>@<host>`` (a message's
    ``origin``)."""
    return nodename(f"{prefix}{os.getpid()}", hostname or gethostname())


def nodesplit(name: str) -> tuple[str | None, str]:
    """``("w1", "host")`` for ``"w1@host"``; ``(None, "host")`` without ``@``."""
    head, sep, tail = name.partition(NODENAME_SEP)
    return (head, tail) if sep else (None, head)


def default_nodename(hostname: str | None, default_name: str = NODENAME_DEFAULT) -> str:
    """``hostname`` completed to ``name@host``: the name half defaults to ``default_name``,
    the host half to this host."""
    name, host = nodesplit(hostname or "")
    return nodename(name or default_name, host or gethostname())


def host_format(s: str, host: str | None = None, name: str | None = None,
                **extra: Any) -> str:
    """Expand ``%h`` (full host), ``%n`` (name, else the host's first label), ``%d`` (domain),
    ``%i``/``%I`` (process index: ``0``/empty in the main process) and ``extra`` codes."""
    host = host or gethostname()
    short, _, domain = host.partition(".")
    codes = {"h": host, "n": name or short, "d": domain, "i": "0", "I": "", **extra}
    return re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else str(
        codes.get(m.group(1), m.group(0))), s)


def expand_hostname(template: str) -> str:
    """A worker's ``-n`` value: ``%h``, ``%n`` (short host) and ``%d`` expanded; empty means
    ``celeriac@<host>``."""
    if not template:
        return nodename(NODENAME_DEFAULT, socket.gethostname())
    return host_format(template, socket.gethostname())


def node_format(template: str, nodename: str, **extra: Any) -> str:
    """Expand Celery's node-name codes in a path such as ``--statedb=/var/run/%n.state``.

    ``%n`` is the node's name before ``@``, ``%h`` the host after it, ``%d`` the host's
    domain, ``%p`` the whole node name, ``%i``/``%I`` the process index (``0``/empty in
    the main process, as in Celery) and ``%%`` a percent sign.
    """
    name, host = nodesplit(nodename)
    return host_format(template, host, name or NODENAME_DEFAULT, p=nodename, **extra)


__all__ = ["anon_nodename", "default_nodename", "gethostname", "host_format", "node_format",
           "nodename", "nodesplit"]
