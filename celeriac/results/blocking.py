"""Refusing to wait for a result inside a task (Celery's ``assert_will_not_block``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from celeriac._state import join_will_block_var, task_join_will_block

#: Celery's message, word for word (``celery.result.E_WOULDBLOCK``).
E_WOULDBLOCK: Final = """\
Never call result.get() within a task!
See https://docs.celeryq.dev/en/latest/userguide/tasks.html\
#avoid-launching-synchronous-subtasks
"""


def assert_will_not_block() -> None:
    """Refuse to wait for a result inside a worker's task, as Celery does.

    The waiting task holds the pool slot the awaited task may need: a solo worker (or a
    full pool) would wait forever. ``get(disable_sync_subtasks=False)`` or
    ``with allow_join_result():`` opt out.
    """
    if task_join_will_block():
        raise RuntimeError(E_WOULDBLOCK)


@contextmanager
def allow_join_result() -> Iterator[None]:
    """Allow ``result.get()`` inside a task within this block (Celery's escape hatch)."""
    token = join_will_block_var.set(False)
    try:
        yield
    finally:
        join_will_block_var.reset(token)


__all__ = ["E_WOULDBLOCK", "allow_join_result", "assert_will_not_block"]
