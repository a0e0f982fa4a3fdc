"""``Task.typing``: a call with arguments the task cannot take fails when it is sent.

As Celery's ``head_from_fun``, the check is a function generated once per task, with the
task function's parameters and an empty body, so checking costs one plain Python call
(``inspect.Signature.bind`` is pure Python and far slower). Defaults are replaced by
placeholders: only the shape of the call is checked, never the values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

_KINDS_WITHOUT_DEFAULT = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def header_from(fun: Callable[..., Any], bound: bool = False) -> Callable[..., Any] | None:
    """A function that accepts exactly the calls ``fun`` accepts and does nothing.

    ``bound``: ``fun`` takes the task as its first argument (``bind=True``), which callers
    do not pass. None when ``fun``'s signature cannot be read (a builtin, say): no check.
    """
    try:
        signature = inspect.signature(fun, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    parts: list[str] = []
    kwonly_marked = False
    positional_only = False
    for index, param in enumerate(signature.parameters.values()):
        name = param.name
        kind = param.kind
        if positional_only and kind is not inspect.Parameter.POSITIONAL_ONLY:
            parts.append("/")
            positional_only = False
        if kind is inspect.Parameter.POSITIONAL_ONLY:
            positional_only = True
        if kind is inspect.Parameter.VAR_POSITIONAL:
            parts.append(f"*{name}")
            kwonly_marked = True
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            parts.append(f"**{name}")
            continue
        if kind is inspect.Parameter.KEYWORD_ONLY and not kwonly_marked:
            parts.append("*")
            kwonly_marked = True
        default = "" if param.default is inspect.Parameter.empty else f"={index}"
        parts.append(f"{name}{default}")
    if positional_only:
        parts.append("/")
    namespace: dict[str, Any] = {"__name__": getattr(fun, "__module__", None) or __name__}
    fun_name = getattr(fun, "__name__", "task")
    if not fun_name.isidentifier():
        fun_name = "task"
    source = f"def {fun_name}({', '.join(parts)}):\n    return 1\n"
    try:
        exec(source, namespace)  # noqa: S102 - built from parameter names only
    except SyntaxError:
        return None
    header: Callable[..., Any] = namespace[fun_name]
    return partial(header, None) if bound else header


__all__ = ["header_from"]
