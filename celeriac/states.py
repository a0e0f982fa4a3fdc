"""Task state names and their groupings, identical to ``celery.states`` (wire-protocol.md §5)."""

from __future__ import annotations

from typing import Final

PENDING: Final = "PENDING"
RECEIVED: Final = "RECEIVED"
STARTED: Final = "STARTED"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
REJECTED: Final = "REJECTED"
RETRY: Final = "RETRY"
IGNORED: Final = "IGNORED"

READY_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})
UNREADY_STATES: Final = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
EXCEPTION_STATES: Final = frozenset({RETRY, FAILURE, REVOKED})
PROPAGATE_STATES: Final = frozenset({FAILURE, REVOKED})
ALL_STATES: Final = frozenset(
    {PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED, REJECTED, IGNORED}
)

_PRECEDENCE: Final = [SUCCESS, FAILURE, None, REVOKED, STARTED, RECEIVED, REJECTED, RETRY, PENDING]


def precedence(state: str) -> int:
    """Rank of ``state``: lower is more final. Unknown states rank between FAILURE and REVOKED."""
    try:
        return _PRECEDENCE.index(state)
    except ValueError:
        return _PRECEDENCE.index(None)


class state(str):
    """A state name that compares by precedence, as Celery's ``celery.states.state``:
    ``state(PENDING) < state(SUCCESS)``; a custom state ranks below SUCCESS and FAILURE and
    above the other built-in states."""

    __slots__ = ()

    def __gt__(self, other: str) -> bool:
        return precedence(self) < precedence(other)

    def __ge__(self, other: str) -> bool:
        return precedence(self) <= precedence(other)

    def __lt__(self, other: str) -> bool:
        return precedence(self) > precedence(other)

    def __le__(self, other: str) -> bool:
        return precedence(self) >= precedence(other)
