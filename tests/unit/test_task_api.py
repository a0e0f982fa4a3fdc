"""Issue 15, Task: attributes and behaviour a Celery codebase relies on, in-process.

Where practical the same code runs against real Celery 5.7 and celeriac (``APPS``) and the
two must agree: argument checks at call time, ``retry()``'s argument merge, the request
stack of ``push_request``, ``shadow_name``.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import celery
import pytest

import celeriac
from celeriac import Celery, Task
from celeriac.app.task_typing import header_from
from celeriac.execution.autoretry import exponential_backoff
from celeriac.execution.context import Context


def _celeriac_app() -> Any:
    return celeriac.Celery("api", broker=f"memory://{uuid.uuid4().hex}")


def _celery_app() -> Any:
    return celery.Celery("api", broker="memory://", set_as_current=False)


APPS: dict[str, Callable[[], Any]] = {"celery": _celery_app, "celeriac": _celeriac_app}


def task(app: Any, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``app.task(**options)`` for Celery's app or celeriac's (typed for mypy)."""
    decorator: Callable[[Callable[..., Any]], Any] = app.task(**options)
    return decorator


@pytest.fixture(params=sorted(APPS))
def any_app(request: pytest.FixtureRequest) -> Iterator[Any]:
    app = APPS[request.param]()
    yield app
    app.close()


@pytest.fixture
def app() -> Iterator[Celery]:
    app = _celeriac_app()
    yield app
    app.close()


# -- typing ----------------------------------------------------------------------------------
def test_wrong_argument_counts_raise_type_error_when_sent(any_app: Any) -> None:
    @task(any_app, name="api.add")
    def add(x: int, y: int, *, z: int = 0) -> int:
        return x + y + z

    @task(any_app, name="api.bound", bind=True)
    def bound(self: Any, x: int) -> int:
        return x

    calls: list[Callable[[], Any]] = [lambda: add.delay(1), lambda: add.delay(1, 2, 3),
                 lambda: add.apply_async((1, 2), {"w": 1}), lambda: bound.delay(),
                 lambda: bound.delay(1, 2)]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    any_app.conf.task_always_eager = True  # the right calls must pass the check
    assert add.delay(1, 2, z=3).get() == 6
    assert bound.delay(5).get() == 5


def test_typing_false_sends_whatever_it_is_given(app: Celery) -> None:
    @app.task(name="api.loose", typing=False)
    def loose(x: int) -> int:
        return x

    assert loose.delay(1, 2, 3).id


def test_the_header_keeps_the_shape_of_the_signature() -> None:
    def fun(a: int, b: int = 2, /, c: int = 3, *args: int, d: int, e: int = 5,
            **kw: int) -> None:
        return None

    header = header_from(fun)
    assert header is not None
    header(1, d=4)
    header(1, 2, 3, 4, 5, d=4, e=5, f=6)
    with pytest.raises(TypeError):
        header(1)  # d is required
    with pytest.raises(TypeError):
        header(a=1, d=4)  # positional only


def test_soft_time_limit_above_time_limit_is_refused(any_app: Any) -> None:
    @task(any_app, name="api.limits", time_limit=1, soft_time_limit=2)
    def limits() -> None:
        return None

    with pytest.raises(ValueError, match="soft_time_limit"):
        limits.delay()


# -- shadow_name ------------------------------------------------------------------------------
def test_shadow_name_names_the_message(any_app: Any) -> None:
    seen: list[Any] = []

    def shadow(task: Any, args: Any, kwargs: Any, options: Any) -> str:
        return f"shadow-of-{args[0]}"

    @task(any_app, name="api.shadowed", shadow_name=shadow)
    def shadowed(x: int) -> int:
        return x

    def publish(headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers.get("shadow"))

    signal = (celery.signals if isinstance(any_app, celery.Celery)
              else celeriac.signals).before_task_publish
    signal.connect(publish, weak=False)
    try:
        shadowed.delay(7)
        shadowed.apply_async((8,), shadow="given")
    finally:
        signal.disconnect(publish)
    assert seen == ["shadow-of-7", "given"]


# -- retry: Celery's merge of args and kwargs ------------------------------------------------------
def test_retry_merges_args_and_kwargs_as_celery(any_app: Any) -> None:
    any_app.conf.task_always_eager = True
    calls: list[tuple[Any, ...]] = []

    @task(any_app, name="api.merge", bind=True, max_retries=3, default_retry_delay=0)
    def merge(self: Any, a: int, b: int = 0, c: int = 0) -> None:
        calls.append((a, b, c))
        if self.request.retries == 0:
            raise self.retry(args=(10,))  # request had b and c as keywords: keep them
        if self.request.retries == 1:
            raise self.retry(kwargs={"a": 20})  # the request's positional a: replaced

    merge.apply_async((1,), {"b": 2, "c": 3})
    assert calls == [(1, 2, 3), (10, 2, 3), (20, 0, 0)]


def test_retry_throw_false_returns_the_retry(app: Celery) -> None:
    app.conf.task_always_eager = True
    returned: list[Any] = []

    @app.task(name="api.nothrow", bind=True)
    def nothrow(self: Any) -> str:
        if self.request.retries == 0:
            returned.append(self.retry(throw=False))
        return "done"

    assert nothrow.delay().get() == "done"
    assert isinstance(returned[0], celeriac.exceptions.Retry)


def test_autoretry_for_in_eager_mode_as_celery(any_app: Any) -> None:
    any_app.conf.task_always_eager = True
    runs: list[int] = []

    @task(any_app, name="api.flaky", autoretry_for=(ValueError,), dont_autoretry_for=(
        UnicodeError,), max_retries=2, default_retry_delay=0)
    def flaky(kind: str) -> None:
        runs.append(1)
        raise (UnicodeError if kind == "unicode" else ValueError)(kind)

    assert flaky.delay("value").state == "FAILURE" and len(runs) == 3  # 1 + max_retries
    runs.clear()
    assert flaky.delay("unicode").state == "FAILURE" and len(runs) == 1


def test_backoff_is_celerys_integer_formula() -> None:
    assert [exponential_backoff(1, n, 600) for n in range(5)] == [1, 2, 4, 8, 16]
    assert exponential_backoff(3, 10, 600) == 600
    assert all(0 <= exponential_backoff(2, 3, 600, full_jitter=True) <= 16 for _ in range(50))
    from celery.utils.time import get_exponential_backoff_interval

    assert [get_exponential_backoff_interval(1, n, 600) for n in range(5)] == [1, 2, 4, 8, 16]


# -- the request stack --------------------------------------------------------------------------
def test_push_request_as_celery_tests_use_it(any_app: Any) -> None:
    @task(any_app, name="api.bound", bind=True)
    def bound(self: Any, x: int) -> tuple[Any, ...]:
        return (self.request.id, self.request.retries, x)

    bound.push_request(id="abc", retries=2)
    try:
        assert bound.run(1) == ("abc", 2, 1)
        # A dict sets what the current request left unset; keywords set anything.
        bound.push_request({"retries": 3, "eta": "soon"}, origin="here")
        assert (bound.request.id, bound.request.retries) == ("abc", 2)
        assert (bound.request.eta, bound.request.origin) == ("soon", "here")
        bound.pop_request()
        assert bound.request.retries == 2
    finally:
        bound.pop_request()
    assert bound.request.id is None


def test_request_carries_celerys_attributes() -> None:
    context = Context(timelimit=(10.0, 5.0), properties={"priority": 3},
                      headers={"replaced_task_nesting": 2}, stamps={"s": "v"})
    assert (context.time_limit, context.soft_time_limit) == (10.0, 5.0)
    context.soft_time_limit = 4.0
    assert context.timelimit == (10.0, 4.0)
    assert context.properties == {"priority": 3}
    assert context.replaced_task_nesting == 2 and context.stamps == {"s": "v"}
    assert context.ignore_result is False and context.children == []
    assert context.as_execution_options()["replaced_task_nesting"] == 2
    unknown = celeriac.app.request_stack.build_context(Context(), custom_thing=1)
    assert getattr(unknown, "custom_thing") == 1  # noqa: B009 - mypy: not a field  # any key, as Celery's request shows it


# -- binding -------------------------------------------------------------------------------------
def test_on_bound_runs_when_the_task_is_created(app: Celery) -> None:
    bound_to: list[Any] = []

    class Base(Task):  # type: ignore[type-arg]
        @classmethod
        def on_bound(cls, app: Any) -> None:
            bound_to.append((cls.__name__, app))

    @app.task(name="api.hooked", base=Base)
    def hooked() -> None:
        return None

    class Registered(Base):
        name = "api.registered"

        def run(self) -> None:
            return None

    app.register_task(Registered)
    assert bound_to == [("hooked", app), ("Registered", app)]


def test_an_abstract_base_task_is_a_base_not_a_task(app: Celery) -> None:
    class Base(app.Task):  # type: ignore[name-defined,misc]
        abstract = True
        custom = "base"

    @app.task(name="api.child", base=Base)
    def child() -> str:
        return child.custom  # type: ignore[no-any-return,attr-defined]

    assert Base.abstract is True and type(child).abstract is False
    assert [name for name, task in app.tasks.items() if isinstance(task, Base)] == ["api.child"]
    assert child() == "base"


def test_annotate_and_add_around_are_class_methods(app: Celery) -> None:
    @app.task(name="api.annotated")
    def annotated() -> None:
        return None

    app.conf.task_annotations = {"api.annotated": {"rate_limit": "5/s"}}
    type(annotated).annotate()
    assert annotated.rate_limit == "5/s"

    def around(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> str:
            return "around"
        return wrapper

    type(annotated).add_around("shadow_name", around)
    assert annotated.shadow_name((), {}, {}) == "around"


def test_strategy_is_refused_loudly(app: Celery) -> None:
    class WithStrategy(Task):  # type: ignore[type-arg]
        Strategy = "myproj.strategy:custom"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @app.task(name="api.strategic", base=WithStrategy)
        def strategic() -> None:
            return None

    assert any("Strategy = 'myproj.strategy:custom' is not supported" in str(w.message)
               for w in caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @app.task(name="api.lost", retry_on_worker_lost=True, acks_on_timeout=True)
        def lost() -> None:
            return None

    assert [str(w.message).split(" =")[0] for w in caught] == ["lost.retry_on_worker_lost"]
