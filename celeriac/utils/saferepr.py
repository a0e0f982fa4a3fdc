"""Truncated, depth-limited ``repr`` for task arguments (``argsrepr``/``kwargsrepr``, logs, events).

Celery puts ``saferepr(args, 1024, maxlevels=3)`` in the ``argsrepr``/``kwargsrepr`` headers
(wire-protocol.md §1.2, pitfall §7.12) and reuses them as ``args``/``kwargs`` of the
``task-sent``/``task-received`` events, so monitoring tools show whatever the sender wrote. We
reproduce Celery's output token for token (``celery.utils.saferepr``): strings in single quotes
with only ``'`` escaped, numbers through ``str``, containers past ``maxlevels`` as ``[...]``, and
when the budget of ``maxlen`` characters runs out, ``, ...`` followed by the closing brackets of
the containers already opened. Display only: nobody may parse it.

Most task arguments are a few small scalars, so a fast path returns the builtin ``repr`` when the
value is provably rendered identically by both (see ``_is_plain``).
"""

from __future__ import annotations

from decimal import Decimal
from numbers import Number
from typing import Any, Final

__all__ = ["saferepr"]

#: Largest container the fast path inspects; beyond it the exact slow path is cheaper to trust.
_FAST_PATH_MAX_ITEMS: Final = 64
_PLAIN_SCALARS: Final = (int, float, type(None))
_ELLIPSIS: Final = "..."


class _Exhausted(Exception):
    """The character budget ran out before a non-closing token: stop emitting."""


class _Writer:
    """Accumulates tokens against a character budget, like Celery's ``_saferepr`` loop."""

    __slots__ = ("closers", "left", "maxlevels", "out", "seen")

    def __init__(self, maxlen: int, maxlevels: int) -> None:
        self.out: list[str] = []
        self.left = maxlen
        self.maxlevels = maxlevels
        self.closers: list[str] = []
        self.seen: set[int] = set()

    def text(self, value: str) -> None:
        if self.left <= 0:
            raise _Exhausted
        self.out.append(value)
        self.left -= len(value)

    def open(self, start: str, end: str) -> None:
        self.text(start)
        self.closers.append(end)

    def close(self) -> None:
        # Celery always shows a closing bracket, even past the budget (it is not truncatable).
        end = self.closers.pop()
        self.out.append(end)
        self.left -= len(end)


def _truncate(text: str, maxlen: int) -> str:
    """``celery.utils.text.truncate``: cut at a word boundary and add ``...``."""
    if maxlen and len(text) >= maxlen:
        return text[:maxlen].rsplit(" ", 1)[0] + _ELLIPSIS
    return text


def _format_chars(value: str | bytes, maxlen: int) -> str:
    if isinstance(value, bytes):
        if maxlen and len(value) > maxlen:
            return "b'" + _bytes_text(value[:maxlen]) + "...'"
        return "b'" + _bytes_text(value) + "'"
    return "'" + _truncate(value, maxlen).replace("'", "\\'") + "'"


def _bytes_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def _safe_builtin_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # a broken __repr__ must not break publishing or logging
        return f"<Unrepresentable {type(obj)!r}{id(obj):#x}: {exc!r}>"


def _brackets(obj: Any) -> tuple[str, str] | None:
    """Opening and closing text for the containers Celery expands, else ``None``."""
    if isinstance(obj, set | frozenset):
        if type(obj) is set:
            return "{", "}"
        return f"{type(obj).__name__}({{", "})"
    if isinstance(obj, tuple):
        return ("(", ",)") if len(obj) == 1 else ("(", ")")
    if isinstance(obj, dict):
        return "{", "}"
    if isinstance(obj, list):
        return "[", "]"
    return None


def _emit(writer: _Writer, obj: Any, level: int) -> None:
    if isinstance(obj, Decimal):
        writer.text(_truncate(repr(obj), writer.left))
    elif isinstance(obj, Number):
        writer.text(_truncate(str(obj), writer.left))
    elif isinstance(obj, str | bytes):
        writer.text(_format_chars(obj, writer.left))
    elif isinstance(obj, set | frozenset) and not obj:
        writer.text(_truncate(f"{type(obj).__name__}()", writer.left))
    else:
        brackets = _brackets(obj)
        if brackets is None:
            writer.text(_truncate(_safe_builtin_repr(obj), writer.left))
        else:
            _emit_container(writer, obj, level, brackets)


def _emit_container(writer: _Writer, obj: Any, level: int, brackets: tuple[str, str]) -> None:
    start, end = brackets
    if writer.maxlevels and level >= writer.maxlevels:
        writer.text(f"{start}...{end}")
        return
    if id(obj) in writer.seen:
        writer.text(f"<Recursion on {type(obj).__name__} with id={id(obj)}>")
        return
    writer.seen.add(id(obj))
    writer.open(start, end)
    first = True
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not first:
                writer.text(", ")
            first = False
            writer.text(saferepr(key, writer.left, writer.maxlevels) if writer.left > 0 else "")
            writer.text(": ")
            _emit(writer, value, level + 1)
    else:
        for item in obj:
            if not first:
                writer.text(", ")
            first = False
            _emit(writer, item, level + 1)
    writer.seen.discard(id(obj))
    writer.close()


_EMPTY_CONTAINERS = (dict, tuple, list)


def _is_plain_str(value: str) -> bool:
    # ``repr`` equals Celery's quoting exactly when nothing needs escaping either way.
    return "'" not in value and "\\" not in value and value.isprintable()


def _is_plain(obj: Any, level: int, maxlevels: int, budget: list[int]) -> bool:
    """True when ``repr(obj)`` is exactly what the token walk would print (sans truncation)."""
    kind = type(obj)
    if kind in _PLAIN_SCALARS or kind is bool:
        return True
    if kind is str:
        return _is_plain_str(obj)
    if kind not in (tuple, list, dict) or (maxlevels and level >= maxlevels):
        return False
    budget[0] -= len(obj)
    if budget[0] < 0:
        return False
    if kind is dict:
        return all(
            type(key) is str
            and _is_plain_str(key)
            and _is_plain(value, level + 1, maxlevels, budget)
            for key, value in obj.items()
        )
    return all(_is_plain(item, level + 1, maxlevels, budget) for item in obj)


def saferepr(obj: Any, maxlen: int = 1024, maxlevels: int = 3) -> str:
    """Return Celery's truncated representation of ``obj``.

    Args:
        obj: any value; objects whose ``__repr__`` raises are shown as ``<Unrepresentable ...>``.
        maxlen: character budget; past it the output ends with ``, ...`` plus closing brackets,
            so the result can be slightly longer than ``maxlen`` (as in Celery).
        maxlevels: container nesting shown before ``[...]`` (0 means unlimited).
    """
    if not obj and type(obj) in _EMPTY_CONTAINERS:  # kwargsrepr is almost always "{}"
        return repr(obj)
    if _is_plain(obj, 0, maxlevels, [_FAST_PATH_MAX_ITEMS]):
        text = repr(obj)
        if len(text) < maxlen:
            return text
    writer = _Writer(maxlen, maxlevels)
    try:
        _emit(writer, obj, 0)
    except _Exhausted:
        writer.out.append(", ...")
        writer.out.extend(reversed(writer.closers))
    return "".join(writer.out)
