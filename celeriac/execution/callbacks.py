"""What follows a task's outcome on the wire: links, the next chain step, errbacks, chord bodies.

Callbacks and the next chain step are published *before* the parent's result is stored, as
Celery does, so the stored record can list them in ``children`` (wire-protocol.md §1.7, §7.16).
A failure stores the same failure on every later chain step (so the chain's result, its last
step, reports it; on ``rpc://`` it goes to each step's own ``reply_to``) and runs errbacks by
arity (§7.22). Chord header outcomes are joined *after* their own results are stored
(``fire_chords``, called by the worker in batches): the join counts them in the result store
(``backends.chords``) and exactly one caller fires the body.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.backends.base import store_with_reply_to
from celeriac.backends.chords import ChordPart, ClaimedChord
from celeriac.exceptions import ChordError
from celeriac.execution.context import Context
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso

if TYPE_CHECKING:
    from celeriac.app.base import Celery

logger = logging.getLogger(__name__)

_JOINED_STATES = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})


def _send_signature(app: Celery, sig: Any, prepend: tuple[Any, ...],
                    context: Context, **extra: Any) -> Any:
    from celeriac.canvas.signature import maybe_signature

    signature = maybe_signature(sig, app=app)
    options = {"parent_id": context.id, "root_id": context.root_id or context.id, **extra}
    return signature.apply_async(prepend, **options)


def _child_tuple(result: Any) -> list[Any]:
    as_tuple = getattr(result, "as_tuple", None)
    if as_tuple is None:
        return [[str(result), None], None]
    children: list[Any] = _listify(as_tuple())
    return children


def trail_children(results: list[Any]) -> list[Any]:
    """The ``children`` entries of the results a task sent while it ran (``Task.trail``)."""
    return [_child_tuple(result) for result in results]


def _listify(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_listify(item) for item in value]
    return value


def send_callbacks(app: Celery, context: Context, retval: Any) -> list[Any]:
    """Publish links and the next chain step with ``retval``; return the ``children`` list.

    Two or more plain links go out as one group, as Celery sends them (§1.7).
    """
    if not context.callbacks and not context.chain:  # nearly every task: nothing to send
        return []
    from celeriac.canvas.group import group
    from celeriac.canvas.signature import maybe_signature

    children: list[Any] = []
    callbacks = [maybe_signature(sig, app=app) for sig in context.callbacks or ()]
    with app.publish_batch():
        plain = [sig for sig in callbacks if not isinstance(sig, group)]
        if len(plain) > 1:
            result = _send_signature(app, group(plain, app=app), (retval,), context)
            children.append(_child_tuple(result))
        else:
            for sig in plain:
                result = _send_signature(app, sig, (retval,), context)
                children.append(_child_tuple(result))
        for sig in callbacks:
            if isinstance(sig, group):
                children.append(_child_tuple(_send_signature(app, sig, (retval,), context)))
        if context.chain:
            remaining = list(context.chain)
            next_step = remaining.pop()
            result = _send_signature(app, next_step, (retval,), context, chain=remaining)
            children.append(_child_tuple(result))
    return children


def send_errbacks(app: Celery, context: Context, exc: BaseException, trace: str) -> None:
    """After a failure: fail the rest of the chain, then run or send errbacks by arity.

    Errbacks of registered, decorated, unbound tasks that take more than one argument run
    here as ``errback(request, exc, traceback)``; all others are sent as one group message
    with ``(failed_task_id,)`` (wire-protocol.md §7.22).
    """
    try:
        fail_chain(app, context.chain, exc, trace)
    except Exception as error:
        logger.exception("Could not fail the chain after %s: %r", context.id, error)
    run_errbacks(app, context, context.errbacks or (), exc, trace)


def run_errbacks(app: Celery, context: Context, errbacks: Iterable[Any],
                 exc: BaseException, trace: str | None) -> None:
    from celeriac.canvas.group import group
    from celeriac.canvas.signature import maybe_signature

    to_send = []
    for raw in errbacks:
        sig = maybe_signature(raw, app=app)
        task = app.tasks.get(sig.task)
        if task is not None and _runs_in_process(task, sig):
            try:
                sig(context, exc, trace)
            except Exception as error:
                logger.exception("Errback %s of %s raised: %r", sig.task, context.id, error)
        else:
            to_send.append(sig)
    if to_send:
        try:
            group(to_send, app=app).apply_async(
                (context.id,), parent_id=context.id, root_id=context.root_id or context.id)
        except Exception as error:
            logger.exception("Could not send errbacks of %s: %r", context.id, error)


def _runs_in_process(task: Any, sig: Any) -> bool:
    """Celery's test: a plain ``@task`` function taking more than one argument beyond those
    the errback signature already binds (keyword-bound parameters do not count)."""
    run = type(task).__dict__.get("run")
    if not isinstance(run, staticmethod):
        return False
    try:
        fun = run.__func__
        if not sig.immutable and (sig["args"] or sig["kwargs"]):
            fun = functools.partial(fun, *sig["args"], **sig["kwargs"])
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) > 1


def fail_chain(app: Celery, chain: Sequence[Any] | None, exc: BaseException,
               trace: str | None) -> None:
    """Store ``exc`` on every later chain step with an id; join chord members among them."""
    from celeriac.canvas.signature import maybe_signature

    records: list[tuple[str | None, ResultMeta]] = []
    parts: list[ChordPart] = []
    encoded = encode_exception(exc)
    for raw in chain or ():
        sig = maybe_signature(raw, app=app)
        options = sig["options"]
        task_id = options.get("task_id")
        if not task_id:
            continue
        records.append((options.get("reply_to"),
                        ResultMeta(str(task_id), states.FAILURE, encoded, trace, [], now_iso(),
                                   group_id=options.get("group_id"))))
        if options.get("chord") and options.get("group_id"):
            parts.append(ChordPart(str(task_id), str(options["group_id"]),
                                   options.get("group_index"), dict(options["chord"]),
                                   states.FAILURE, encoded, options.get("root_id")))
    if records:
        store_with_reply_to(app.backend, records)
    if parts:
        fire_chords(app, parts)


# -- chords -----------------------------------------------------------------------------------
def chord_parts(finished: Iterable[tuple[Any, Any]]) -> list[ChordPart]:
    """The chord header outcomes among a worker's finished ``(request, outcome)`` pairs."""
    parts: list[ChordPart] = []
    for request, outcome in finished:
        body = request.body
        meta = outcome.meta
        if body is None or not body.chord or meta is None or meta.status not in _JOINED_STATES:
            continue
        headers = request.headers
        group_id = headers.get("group")
        if not group_id:
            continue
        parts.append(ChordPart(request.task_id, str(group_id), headers.get("group_index"),
                               dict(body.chord), meta.status, meta.result,
                               headers.get("root_id")))
    return parts


def fire_chords(app: Celery, parts: Sequence[ChordPart]) -> None:
    """Join ``parts`` (already stored) and fire every chord they complete. Never raises."""
    if not parts:
        return
    try:
        claimed = app.backend.chord_join().add_parts(parts)
    except Exception as exc:
        logger.exception("Could not join %d chord part(s): %r", len(parts), exc)
        return
    for chord in claimed:
        _fire(app, chord)


def _fire(app: Celery, claimed: ClaimedChord) -> None:
    from celeriac.canvas.signature import maybe_signature
    from celeriac.results.async_result import exception_from_meta

    join = app.backend.chord_join()
    part = claimed.part
    body = maybe_signature(part.body, app=app)
    failed = next(((tid, state, result) for tid, state, result in claimed.results
                   if state in states.PROPAGATE_STATES), None)
    try:
        if failed is None:
            values = [result for _, _, result in claimed.results]
            body.apply_async((values,), parent_id=part.task_id,
                             root_id=part.root_id or part.task_id)
            join.finish(claimed)
            return
        tid, state, result = failed
        cause = exception_from_meta(ResultMeta(tid, state, result))
        error = ChordError(f"Dependency {tid} raised {cause!r}")
        error.__cause__ = cause
        chord_error(app, body, error, part)
        join.abandon(claimed)
    except Exception as exc:
        logger.exception("Chord %s: could not fire its body: %r", part.group_id, exc)
        try:
            chord_error(app, body, ChordError(f"Callback error: {exc!r}"), part)
        finally:
            join.abandon(claimed)


def chord_error(app: Celery, body: Any, error: ChordError, part: ChordPart) -> None:
    """Fail the body with ``error``: store it, fail the body's chain, run its errbacks."""
    from celeriac.canvas.group import group

    logger.error("Chord %s failed: %s", part.group_id, error)
    members = list(body.tasks) if isinstance(body, group) else [body]
    trace = f"{type(error).__name__}: {error}\n"
    metas = []
    for member in members:
        task_id = member["options"].get("task_id") or str(uuid.uuid4())
        metas.append(ResultMeta(str(task_id), states.FAILURE, encode_exception(error), trace,
                                [], now_iso(), group_id=member["options"].get("group_id"),
                                parent_id=part.task_id))
    store_with_reply_to(app.backend, [(member["options"].get("reply_to"), meta)
                                      for member, meta in zip(members, metas, strict=True)])
    fail_chain(app, body["options"].get("chain"), error, trace)
    for member, meta in zip(members, metas, strict=True):
        errbacks = member["options"].get("link_error") or ()
        if errbacks:
            context = Context(id=meta.task_id, task=member.get("task"), args=member.get("args"),
                              kwargs=member.get("kwargs"), root_id=part.root_id,
                              parent_id=part.task_id, group=part.group_id,
                              called_directly=False)
            run_errbacks(app, context, errbacks, error, trace)


__all__ = ["chord_parts", "fire_chords", "send_callbacks", "send_errbacks"]
