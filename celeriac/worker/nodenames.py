"""Celery's node-name codes: in the node name itself (``-n w1@%h``) and in paths
(``--statedb=/var/run/celeriac/%n.state``)."""

from __future__ import annotations

import re
import socket


def expand_hostname(template: str) -> str:
    """Expand ``%h`` (full host), ``%n`` (short name), ``%d`` (domain), as Celery does."""
    full = socket.gethostname()
    name, _, domain = full.partition(".")
    if not template:
        return f"celeriac@{full}"
    return (template.replace("%h", full).replace("%n", name).replace("%d", domain)
            .replace("%%", "%"))


def node_format(template: str, nodename: str) -> str:
    """Expand Celery's node-name codes in a path such as ``--statedb=/var/run/%n.state``.

    ``%n`` is the node's name before ``@``, ``%h`` the host after it, ``%d`` the host's
    domain, ``%p`` the whole node name, ``%i``/``%I`` the process index (``0``/empty in
    the main process, as in Celery) and ``%%`` a percent sign.
    """
    name, sep, host = nodename.partition("@")
    if not sep:
        name, host = "celeriac", nodename
    codes = {"n": name, "h": host, "d": host.partition(".")[2], "p": nodename, "i": "0",
             "I": "", "%": "%"}
    return re.sub(r"%(.)", lambda m: codes.get(m.group(1), m.group(0)), template)
