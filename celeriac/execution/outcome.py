"""``Outcome``: the one value that crosses from a pool back to the worker after a task ran.

Plain frozen data, so prefork children send it over their pipe unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from celeriac.protocol.result_meta import ResultMeta


class Disposition(Enum):
    """What the worker must do with the message once the task is over."""

    ACK = "ack"
    REQUEUE = "requeue"
    SET_ASIDE = "set_aside"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of running one request.

    ``meta`` is the record to store (None when results are ignored); it is stored *before*
    the message is acknowledged, so a crash in between re-runs the task rather than losing
    its result. ``reason`` explains a requeue or set-aside in logs and dead letters.
    """

    task_id: str
    state: str
    meta: ResultMeta | None
    disposition: Disposition = Disposition.ACK
    runtime: float = 0.0
    reason: str = ""
    #: The result's repr for ``task-succeeded`` when ``meta`` holds none (results ignored);
    #: only computed while task events are on (``TaskRunner.result_reprs``).
    result_repr: str | None = None


@dataclass(frozen=True, slots=True)
class UnannouncedFailure(Outcome):
    """A FAILURE recorded for a task whose own process could not announce it.

    A prefork child that died or was killed at its hard time limit runs no errbacks, no
    ``on_failure`` and sends no ``task_failure``; its pool records the failure and reports
    this instead. The worker announces it (``TaskRunner.announce_failure``) on its consumer
    thread before storing it, so the pool's supervisor thread, which enforces time limits,
    never runs user code. Never crosses a pipe.
    """

    error: BaseException | None = None
