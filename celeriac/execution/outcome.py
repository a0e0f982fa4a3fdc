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
