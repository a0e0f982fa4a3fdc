"""``shared_task`` and the ``current_app``/``current_task`` proxies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celeriac import _state
from celeriac.local import Proxy


def shared_task(*args: Any, **options: Any) -> Any:
    """Define a task usable by every app (for reusable apps / libraries), like Celery's."""

    def create(fun: Callable[..., Any]) -> Any:
        name = options.get("name") or f"{fun.__module__}.{fun.__name__}"

        def bind(app: Any) -> None:
            app._create_task(fun, **{**options, "name": name})

        _state.connect_shared_task(bind)
        return _SharedTaskProxy(name)

    if args and callable(args[0]) and not options:
        return create(args[0])
    return create


class _SharedTaskProxy:
    """Resolves to the task of the current app on each use."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _task(self) -> Any:
        return _state.get_current_app().tasks[self._name]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._task(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._task()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<@shared_task: {self._name}>"


current_app: Any = Proxy(_state.get_current_app)
current_task: Any = Proxy(_state.get_current_task)
