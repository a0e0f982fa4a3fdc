"""The messages between the prefork parent and its children, over one duplex pipe per child.

Parent to child: ``Job(request)`` to run one request, or ``None`` to exit.
Child to parent: ``Ready(pid)`` once, after ``worker_process_init`` ran (the parent gives a
child work only from then on, so a child that fails to start loses no request); then
``Done(outcome, retiring)`` once per job, where ``retiring`` says the child exits right after
(``max_tasks_per_child`` / ``max_memory_per_child``), so it must get no more work.

Encoding is pickle over ``multiprocessing.connection.Connection``. That is safe here and only
here: both ends are our own processes (the child is a fork of the parent), the pipe is an
anonymous socketpair nobody else can open, and only our own value types are sent
(``Request``, ``Outcome`` and the task arguments and results they carry). Nothing from the
broker reaches ``pickle.loads`` unchecked: the arguments were decoded by the parent under the
``accept_content`` list before they were re-pickled for the child.

Pickling happens before anything is written, so an unpicklable value raises ``PickleError``
(or ``TypeError``/``AttributeError``) without corrupting the pipe; a dead peer raises
``OSError`` on send and ``EOFError`` on receive.
"""

from __future__ import annotations

import pickle
from multiprocessing.connection import Connection
from typing import NamedTuple

from celeriac.execution.outcome import Outcome
from celeriac.execution.request import Request


class Job(NamedTuple):
    request: Request


class Done(NamedTuple):
    outcome: Outcome
    retiring: bool


class Ready(NamedTuple):
    pid: int


def encode(message: Job | Done | Ready | None) -> bytes:
    """Pickle ``message``; raises if it cannot be pickled (nothing was sent)."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def send(conn: Connection, payload: bytes) -> None:
    conn.send_bytes(payload)


def receive_job(conn: Connection) -> Job | None:
    """The child's side: the next job, or ``None`` to exit (also when the parent is gone)."""
    try:
        message = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own pipe, see docstring
    except (EOFError, OSError):
        return None
    if isinstance(message, Job):
        return message
    return None


def receive_report(conn: Connection) -> Done | Ready:
    """The parent's side: the child's report. Raises ``EOFError``/``OSError`` if it died."""
    message = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own pipe, see docstring
    if not isinstance(message, Done | Ready):
        raise EOFError(f"unexpected message from child: {type(message).__name__}")
    return message


__all__ = ["Done", "Job", "Ready", "encode", "receive_job", "receive_report", "send"]
