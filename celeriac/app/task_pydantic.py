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


class PydanticModels:
    """What ``pydantic=True`` knows of one task function: which parameters take models,
    how to validate them, how to dump them and the result."""

    def __init__(self, app: Any, fun: Callable[..., Any], task_name: str, strict: bool,
                 context: Mapping[str, Any] | None, dump_kwargs: Mapping[str, Any] | None,
                 base_model: Any) -> None:
        self.app, self.fun, self.task_name, self.strict = app, fun, task_name, strict
        self.base_model = base_model
        self.context = dict(context or {})
        self.dump_options = {"mode": "json", **(dump_kwargs or {})}
        self.signature = inspect.signature(fun)
        try:
            self.hints: dict[str, Any] | None = typing.get_type_hints(fun)
        except (NameError, AttributeError, TypeError):
            self.hints = None  # string annotations that cannot be resolved: inspect's own
        parameters = self.signature.parameters.items()
        self.positional_names = [name for name, p in parameters if p.kind in _POSITIONAL]
        self.keyword_names = {name for name, p in parameters if p.kind in _KEYWORD}

    def annotation_of(self, name: str) -> Any:
        if self.hints and name in self.hints:
            return self.hints[name]
        if name == "return":
            return self.signature.return_annotation
        return self.signature.parameters[name].annotation

    def model_for(self, name: str, value: Any) -> Any:
        """The model parameter ``name`` is validated with for ``value``, or None."""
        annotation = self.annotation_of(name)
        optional = _optional_arg(annotation)
        if optional is not None and value is not None:
            annotation = optional
        return annotation if _is_model_class(annotation, self.base_model) else None

    def validate(self, model: Any, value: Any) -> Any:
        return model.model_validate(value, strict=self.strict, context={
            **self.context, "celery_app": self.app, "celery_task_name": self.task_name})

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The task body: models in, the returned model dumped when it is the annotated one."""
        bound = self.signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            model = self.model_for(name, value)
            if model is not None:
                bound.arguments[name] = self.validate(model, value)
        returned: Any = self.fun(*bound.args, **bound.kwargs)
        annotation = self.annotation_of("return")
        annotation = _optional_arg(annotation) or annotation
        if (inspect.isclass(annotation) and isinstance(returned, self.base_model)
                and isinstance(returned, annotation)):
            dumped: Any = returned  # narrowed to ``annotation``, which mypy sees as object
            return dumped.model_dump(**self.dump_options)
        return returned

    def dump_argument(self, name: str | None, value: Any) -> Any:
        """``value`` dumped if the worker would rebuild an equal model from the dump; any
        other value is left to the serializer, as for a task without ``pydantic=True``."""
        if (name is None or not isinstance(value, self.base_model)
                or hasattr(type(value), "__json__")):
            return value
        model = self.model_for(name, value)
        if model is None:
            return value
        try:
            dumped = value.model_dump(**self.dump_options)
            if self.validate(model, dumped) == value:
                return dumped
        except Exception:  # noqa: S110 - validators that only work on a worker: leave it
            pass
        return value

    def dump_arguments(self, args: Any, kwargs: Any, bound: bool = False) -> tuple[Any, Any]:
        """The caller's half (``Task.apply_async``): ``args``/``kwargs`` with the models
        dumped, the very objects given when nothing was dumped."""
        call_args = () if args is None else args
        call_kwargs = {} if kwargs is None else kwargs
        if not isinstance(call_args, list | tuple) or not isinstance(call_kwargs, Mapping):
            return args, kwargs
        values = (*call_args, *call_kwargs.values())
        if not any(isinstance(value, self.base_model) for value in values):
            return args, kwargs
        try:
            self.signature.bind(*([None] if bound else []), *call_args, **call_kwargs)
        except TypeError:
            return args, kwargs
        names = self.positional_names[1:] if bound else self.positional_names
        new_args = [self.dump_argument(names[i] if i < len(names) else None, value)
                    for i, value in enumerate(call_args)]
        new_kwargs = {key: self.dump_argument(key if key in self.keyword_names else None, value)
                      for key, value in call_kwargs.items()}
        if any(new is not old for new, old in zip(new_args, call_args, strict=True)):
            args = new_args if isinstance(call_args, list) else tuple(new_args)
        if any(new_kwargs[key] is not value for key, value in call_kwargs.items()):
            kwargs = new_kwargs
        return args, kwargs


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
    models = PydanticModels(app, fun, task_name, strict, context, dump_kwargs,
                            pydantic.BaseModel)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return models.call(*args, **kwargs)

    wrapper.dump_arguments = models.dump_arguments  # type: ignore[attr-defined]
    return wrapper


__all__ = ["PydanticModels", "pydantic_wrapper"]
