"""``Task.request_stack``, ``push_request`` and ``pop_request`` as Celery's tests use them.

Celery keeps a stack of requests per task class (a thread-local ``LocalStack``); celeriac
keeps the running request in one context variable (``_state.request_var``, per thread and
per asyncio task), which the worker sets directly. This module gives that variable Celery's
stack face, so ``task.push_request(retries=2); task.run(...); task.pop_request()`` (the usual
way to unit-test a bound task) works unchanged.

One difference: the stack is shared by all tasks, so ``other_task.request`` inside a running
task sees the running request (Celery shows ``other_task`` an empty one).
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar, Token
from typing import Any

from celeriac._state import request_var
from celeriac.execution.context import Context

#: Tokens of the requests pushed through this module, innermost last.
_pushed: ContextVar[tuple[Token[Context | None], ...]] = ContextVar(
    "celeriac_pushed_requests", default=())

_FIELDS = frozenset(f.name for f in dataclasses.fields(Context)) | {
    "time_limit", "soft_time_limit", "replaced_task_nesting"}


class RequestStack:
    """Celery's ``LocalStack`` of requests: ``push``, ``pop``, ``top``, ``len()``."""

    def push(self, context: Context) -> Token[Context | None]:
        token = request_var.set(context)
        _pushed.set((*_pushed.get(), token))
        return token

    def pop(self) -> Context | None:
        """Remove the innermost request pushed here and return it (None if there is none)."""
        tokens = _pushed.get()
        if not tokens:
            return None
        top = request_var.get()
        _pushed.set(tokens[:-1])
        request_var.reset(tokens[-1])
        return top

    @property
    def top(self) -> Context | None:
        return request_var.get()

    def __len__(self) -> int:
        return len(_pushed.get())


#: One stack for every task: there is one running request per thread/asyncio task.
REQUEST_STACK = RequestStack()


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


#: What a request holds when nothing set it (Celery's "not in the request's ``__dict__``").
_DEFAULTS: dict[str, Any] = {
    field.name: _default(field) for field in dataclasses.fields(Context)}


def build_context(base: Context, *args: Any, **kwargs: Any) -> Context:
    """Celery's ``Context(*args, **{**task.request.__dict__, **kwargs})``: a dict given
    positionally sets what ``base`` left unset, keywords set anything. Names that are not
    request attributes become headers, which the request shows as attributes too, as
    Celery's request shows any key."""
    context = dataclasses.replace(base, _children=None)
    extra: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in _FIELDS and key != "_children":
            setattr(context, key, value)
        else:
            extra[key] = value

    for key, value in dict(*args).items():
        if key not in _DEFAULTS or getattr(base, key, None) == _DEFAULTS[key]:
            put(key, value)
    for key, value in kwargs.items():
        put(key, value)
    if extra:
        context.headers = {**(context.headers or {}), **extra}
    return context


__all__ = ["REQUEST_STACK", "RequestStack", "build_context"]
