"""``@app.task(pydantic=True)``: arguments validated into pydantic models, results dumped.

Celery 5.5+'s ``pydantic_wrapper``, with its options (``pydantic_strict``,
``pydantic_context``, ``pydantic_dump_kwargs``): a parameter annotated with a model (or an
``Optional`` of one) receives ``Model.model_validate(value)``; a returned model that is an
instance of the return annotation is sent as ``model.model_dump(mode='json')``. The caller's
side (``Task.apply_async``) dumps the models it is given, when the worker's validation would
rebuild an equal model, so ``task.delay(Model(...))`` needs no serializer of its own.

pydantic is the ``pydantic`` extra; it is imported only by tasks that ask for it.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _optional_arg(annotation: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``; None for any other annotation."""
    origin = typing.get_origin(annotation)
    if origin is not typing.Union and origin is not types.UnionType:
        return None
    members = typing.get_args(annotation)
    if len(members) != 2 or type(None) not in members:
        return None
    return next(arg for arg in members if arg is not type(None))


def _is_model_class(annotation: Any, base: type) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, base)


def pydantic_wrapper(app: Any, fun: Callable[..., Any], task_name: str, strict: bool = False,
                     context: Mapping[str, Any] | None = None,
                     dump_kwargs: Mapping[str, Any] | None = None) -> Callable[..., Any]:
    """``fun`` wrapped to validate its model arguments and dump its model result; the
    wrapper's ``dump_arguments(args, kwargs, bound=False)`` is the caller's half."""
    try:
        import pydantic
    except ModuleNotFoundError as exc:
        raise ImproperlyConfigured(
            "You need to install pydantic to use pydantic model serialization "
            "(pip install 'celeriac[pydantic]').") from exc
    base_model: type = pydantic.BaseModel
    validation_context = dict(context or {})
    dump_options = {"mode": "json", **(dump_kwargs or {})}
    signature = inspect.signature(fun)
    try:
        hints: dict[str, Any] | None = typing.get_type_hints(fun)
    except (NameError, AttributeError, TypeError):
        hints = None  # string annotations that cannot be resolved: inspect's raw ones

    def annotation_of(name: str) -> Any:
        if hints and name in hints:
            return hints[name]
        if name == "return":
            return signature.return_annotation
        return signature.parameters[name].annotation

    def model_for(name: str, value: Any) -> Any:
        annotation = annotation_of(name)
        optional = _optional_arg(annotation)
        if optional is not None and value is not None:
            annotation = optional
        return annotation if _is_model_class(annotation, base_model) else None

    def validate(model: Any, value: Any) -> Any:
        return model.model_validate(value, strict=strict, context={
            **validation_context, "celery_app": app, "celery_task_name": task_name})

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            model = model_for(name, value)
            if model is not None:
                bound.arguments[name] = validate(model, value)
        returned = fun(*bound.args, **bound.kwargs)
        annotation = annotation_of("return")
        annotation = _optional_arg(annotation) or annotation
        if (inspect.isclass(annotation) and isinstance(returned, base_model)
                and isinstance(returned, annotation)):
            return returned.model_dump(**dump_options)
        return returned

    positional_names = [name for name, p in signature.parameters.items()
                        if p.kind in _POSITIONAL]
    keyword_names = {name for name, p in signature.parameters.items() if p.kind in _KEYWORD}

    def dump_argument(name: str | None, value: Any) -> Any:
        # Only a model the worker rebuilds as an equal one is dumped; any other value is
        # left to the serializer, as for a task without pydantic=True.
        if (name is None or not isinstance(value, base_model)
                or hasattr(type(value), "__json__")):
            return value
        model = model_for(name, value)
        if model is None:
            return value
        try:
            dumped = value.model_dump(**dump_options)
            if validate(model, dumped) == value:
                return dumped
        except Exception:  # noqa: S110 - validators that only work on a worker: leave it
            pass
        return value

    def dump_arguments(args: Any, kwargs: Any, bound: bool = False) -> tuple[Any, Any]:
        call_args = () if args is None else args
        call_kwargs = {} if kwargs is None else kwargs
        if not isinstance(call_args, list | tuple) or not isinstance(call_kwargs, Mapping):
            return args, kwargs
        if not any(isinstance(v, base_model) for v in (*call_args, *call_kwargs.values())):
            return args, kwargs
        try:
            signature.bind(*([None] if bound else []), *call_args, **call_kwargs)
        except TypeError:
            return args, kwargs
        names = positional_names[1:] if bound else positional_names
        new_args = [dump_argument(names[i] if i < len(names) else None, value)
                    for i, value in enumerate(call_args)]
        new_kwargs = {key: dump_argument(key if key in keyword_names else None, value)
                      for key, value in call_kwargs.items()}
        if any(new is not old for new, old in zip(new_args, call_args, strict=True)):
            args = new_args if isinstance(call_args, list) else tuple(new_args)
        if any(new_kwargs[key] is not value for key, value in call_kwargs.items()):
            kwargs = new_kwargs
        return args, kwargs

    wrapper.dump_arguments = dump_arguments  # type: ignore[attr-defined]
    return wrapper


__all__ = ["pydantic_wrapper"]
