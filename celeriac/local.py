"""Lazy object proxies (Celery's ``celery.local``): ``current_app``, ``current_task`` and friends.

A :class:`Proxy` forwards every attribute, item, operator and call to the object its function
returns *at the time of use*, so ``current_app`` follows whichever app is current in this thread
and ``isinstance(current_app, Celery)`` holds (``__class__`` is forwarded too).
:class:`PromiseProxy` evaluates its function once, on first use, and keeps the result: Celery's
tasks are such promises until the app is finalized, and user code calls
:func:`maybe_evaluate` on either kind.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["PromiseProxy", "Proxy", "maybe_evaluate", "try_import"]


def try_import(module: str, default: Any = None) -> ModuleType | Any:
    """``importlib.import_module(module)``, or ``default`` when it does not import."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return default


def _forward(op: Callable[..., Any]) -> Callable[..., Any]:
    """A dunder that applies ``op`` to the proxied object (and the other operands)."""

    def method(self: Proxy, *args: Any) -> Any:
        return op(self._get_current_object(), *args)

    method.__name__ = getattr(op, "__name__", "method")
    return method


def _reflected(op: Callable[[Any, Any], Any]) -> Callable[[Proxy, Any], Any]:
    """The reflected form (``other + proxy``) of a binary operator."""

    def method(self: Proxy, other: Any) -> Any:
        return op(other, self._get_current_object())

    return method


_BINARY: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
    "pow": operator.pow, "lshift": operator.lshift, "rshift": operator.rshift,
    "and": operator.and_, "xor": operator.xor, "or": operator.or_, "matmul": operator.matmul,
    "divmod": divmod,
}
_OTHER: dict[str, Callable[..., Any]] = {
    "__lt__": operator.lt, "__le__": operator.le, "__eq__": operator.eq,
    "__ne__": operator.ne, "__gt__": operator.gt, "__ge__": operator.ge,
    "__hash__": hash, "__len__": len, "__iter__": iter, "__reversed__": reversed,
    "__getitem__": operator.getitem, "__setitem__": operator.setitem,
    "__delitem__": operator.delitem, "__contains__": operator.contains,
    "__neg__": operator.neg, "__pos__": operator.pos, "__abs__": abs,
    "__invert__": operator.invert, "__complex__": complex, "__int__": int,
    "__float__": float, "__index__": operator.index, "__str__": str,
    "__enter__": lambda obj: obj.__enter__(), "__exit__": lambda obj, *a: obj.__exit__(*a),
}


class Proxy:
    """Forwards everything to ``local(*args, **kwargs)``, evaluated at each use.

    Args:
        local: the function returning the current object.
        args, kwargs: passed to ``local``.
        name: the proxy's ``__name__`` (else the object's).
        __doc__: the proxy's docstring (else the object's).
    """

    __slots__ = ("_Proxy__args", "_Proxy__kwargs", "_Proxy__local", "__dict__")

    def __init__(self, local: Callable[..., Any], args: Any = None, kwargs: Any = None,
                 name: str | None = None, __doc__: str | None = None) -> None:
        object.__setattr__(self, "_Proxy__local", local)
        object.__setattr__(self, "_Proxy__args", tuple(args or ()))
        object.__setattr__(self, "_Proxy__kwargs", dict(kwargs or {}))
        if name is not None:
            object.__setattr__(self, "__custom_name__", name)
        if __doc__ is not None:
            object.__setattr__(self, "__custom_doc__", __doc__)

    def _get_current_object(self) -> Any:
        """The object behind the proxy now (to pass it on, or for speed in a loop)."""
        local = object.__getattribute__(self, "_Proxy__local")
        args = object.__getattribute__(self, "_Proxy__args")
        kwargs = object.__getattribute__(self, "_Proxy__kwargs")
        return local(*args, **kwargs)

    def __getattribute__(self, name: str) -> Any:
        own = object.__getattribute__(self, "__dict__")
        if name == "__name__" and "__custom_name__" in own:
            return own["__custom_name__"]
        if name == "__doc__" and "__custom_doc__" in own:
            return own["__custom_doc__"]
        if name in ("__class__", "__dict__", "__name__", "__qualname__", "__module__", "__doc__"):
            return getattr(object.__getattribute__(self, "_get_current_object")(), name)
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        if name == "__members__":
            return dir(self._get_current_object())
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get_current_object(), name)

    def __repr__(self) -> str:
        return repr(self._get_current_object())

    def __bool__(self) -> bool:
        return bool(self._get_current_object())

    def __dir__(self) -> list[str]:
        return dir(self._get_current_object())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._get_current_object()(*args, **kwargs)

    def __reduce__(self) -> Any:
        return self._get_current_object().__reduce__()


for _name, _op in _OTHER.items():
    setattr(Proxy, _name, _forward(_op))
for _name, _op in _BINARY.items():
    setattr(Proxy, f"__{_name}__", _forward(_op))
    setattr(Proxy, f"__r{_name}__", _reflected(_op))


class PromiseProxy(Proxy):
    """A :class:`Proxy` that evaluates its function once, on first use, and keeps the result.

    ``__evaluated__()`` says whether that happened; ``__then__(fun)`` runs ``fun`` after it
    (at once when already evaluated).
    """

    __slots__ = ("__pending__", "__weakref__")

    def _get_current_object(self) -> Any:
        try:
            return object.__getattribute__(self, "__thing")
        except AttributeError:
            return self.__evaluate__()

    def __then__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self.__evaluated__():
            fun(*args, **kwargs)
            return
        pending = self._pending()
        pending.append((fun, args, kwargs))

    def _pending(self) -> list[Any]:
        try:
            pending: list[Any] = object.__getattribute__(self, "__pending__")
        except AttributeError:
            pending = []
            object.__setattr__(self, "__pending__", pending)
        return pending

    def __evaluated__(self) -> bool:
        try:
            object.__getattribute__(self, "__thing")
        except AttributeError:
            return False
        return True

    def __maybe_evaluate__(self) -> Any:
        return self._get_current_object()

    def __evaluate__(self) -> Any:
        thing = Proxy._get_current_object(self)
        object.__setattr__(self, "__thing", thing)
        for fun, args, kwargs in self._pending():
            fun(*args, **kwargs)
        self._pending().clear()
        return thing


def maybe_evaluate(obj: Any) -> Any:
    """The object behind a :class:`PromiseProxy` (evaluating it); anything else as given."""
    if issubclass(type(obj), PromiseProxy):
        return obj.__maybe_evaluate__()
    return obj
