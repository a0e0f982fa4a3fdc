"""What follows a task's outcome on the wire: link callbacks, the next chain step, errbacks.

Callbacks and the next chain step are published *before* the parent's result is stored, as
Celery does, so the stored record can list them in ``children`` (wire-protocol.md §1.7, §7.16).
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.request import Context

logger = logging.getLogger(__name__)


def _send_signature(app: Celery, sig: dict[str, Any], prepend: tuple[Any, ...],
                    context: Context, **extra: Any) -> str:
    from celeriac.canvas.signature import Signature

    signature = Signature.from_dict(sig, app=app)
    options = {"parent_id": context.id, "root_id": context.root_id or context.id, **extra}
    result = signature.apply_async(prepend, **options)
    return str(result.id)


def send_callbacks(app: Celery, context: Context, retval: Any) -> list[Any]:
    """Publish links and the next chain step with ``retval``; return the ``children`` list."""
    children: list[Any] = []
    for sig in context.callbacks or ():
        child = _send_signature(app, sig, () if sig.get("immutable") else (retval,), context)
        children.append([[child, None], None])
    if context.chain:
        remaining = list(context.chain)
        next_step = remaining.pop()
        prepend = () if next_step.get("immutable") else (retval,)
        child = _send_signature(app, next_step, prepend, context, chain=remaining)
        children.append([[child, None], None])
    return children


def send_errbacks(app: Celery, context: Context, exc: BaseException, trace: str) -> None:
    """Run or send errbacks by arity, as Celery does (wire-protocol.md §7.22)."""
    for sig in context.errbacks or ():
        try:
            task = app.tasks.get(sig.get("task", ""))
            if task is not None and _takes_request(task.run):
                task(context, exc, trace)
            else:
                _send_signature(app, sig, (context.id,), context)
        except Exception as error:
            logger.exception("Errback %s of %s failed: %r", sig.get("task"), context.id, error)


def _takes_request(fun: Any) -> bool:
    try:
        params = inspect.signature(fun).parameters
    except (TypeError, ValueError):
        return False
    return len(params) > 1
