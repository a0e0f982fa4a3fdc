"""``DisabledBackend``: what ``app.backend`` is when no ``result_backend`` is configured.

Workers may still "store" (a no-op, as in Celery) so tasks run the same with or without a
store; reading a result is an error that says how to configure one, instead of a PENDING that
never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, Self

from celeriac.backends.capabilities import StoreCapabilities
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.result_meta import ResultMeta

_MESSAGE = (
    "No result backend is configured, so task results are not stored and cannot be read. "
    "Set result_backend (for example 'sqlite:///celeriac-results.db' or "
    "'redis://localhost:6379/0'), or pass backend=... to Celery()."
)


class DisabledBackend(StoreCapabilities):
    """Accepts writes and drops them; refuses every read with an actionable message.

    It declares no capability: chords and groups fail with ``UnsupportedByStore`` (a
    ``NotImplementedError``, as Celery's ``DisabledBackend``), and nothing is kept to guard.
    """

    persistent = False

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        return cls(options)

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Nothing is kept: there is nowhere to keep it."""

    def get(self, task_id: str) -> NoReturn:
        raise ImproperlyConfigured(_MESSAGE)

    def get_many(self, task_ids: Sequence[str]) -> NoReturn:
        raise ImproperlyConfigured(_MESSAGE)

    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> NoReturn:
        raise ImproperlyConfigured(_MESSAGE)

    def forget(self, task_id: str) -> NoReturn:
        raise ImproperlyConfigured(_MESSAGE)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "<DisabledBackend>"


__all__ = ["DisabledBackend"]
