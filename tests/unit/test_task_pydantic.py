"""``@app.task(pydantic=True)`` (Celery 5.5+): the same tasks on Celery and celeriac agree."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import celery
import pytest

import celeriac

pydantic = pytest.importorskip("pydantic")


class Order(pydantic.BaseModel):  # type: ignore[misc,name-defined]
    item: str
    quantity: int


class Receipt(pydantic.BaseModel):  # type: ignore[misc,name-defined]
    total: int


def task(app: Any, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``app.task(**options)`` for Celery's app or celeriac's (typed for mypy)."""
    decorator: Callable[[Callable[..., Any]], Any] = app.task(**options)
    return decorator


@pytest.fixture(params=["celery", "celeriac"])
def app(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "celery":
        app: Any = celery.Celery("pyd", broker="memory://", set_as_current=False)
    else:
        app = celeriac.Celery("pyd", broker=f"memory://{uuid.uuid4().hex}")
    yield app
    app.close()


def make_tasks(app: Any) -> tuple[Any, Any]:
    @task(app, name="pyd.buy", pydantic=True)
    def buy(order: Order, note: Order | None = None) -> Receipt:
        assert isinstance(order, Order)
        return Receipt(total=order.quantity * 2)

    @task(app, name="pyd.bound", bind=True, pydantic=True)
    def bound(self: Any, order: Order) -> dict[str, Any]:
        return {"type": type(order).__name__, "quantity": order.quantity}

    return buy, bound


def test_arguments_are_validated_and_results_dumped(app: Any) -> None:
    buy, bound = make_tasks(app)
    assert buy({"item": "x", "quantity": 3}) == {"total": 6}
    assert bound({"item": "x", "quantity": 4}) == {"type": "Order", "quantity": 4}
    with pytest.raises(pydantic.ValidationError):
        buy({"item": "x"})


def test_models_given_to_delay_are_sent_as_json(app: Any) -> None:
    buy, bound = make_tasks(app)
    bodies: list[Any] = []

    def publish(body: Any, **_: Any) -> None:
        bodies.append(body)

    module = celery if isinstance(app, celery.Celery) else celeriac
    module.signals.before_task_publish.connect(publish, weak=False)
    try:
        buy.delay(Order(item="x", quantity=1))
        bound.apply_async(kwargs={"order": Order(item="y", quantity=2)})
    finally:
        module.signals.before_task_publish.disconnect(publish)
    assert [list(body[0]) for body in bodies] == [[{"item": "x", "quantity": 1}], []]
    assert bodies[1][1] == {"order": {"item": "y", "quantity": 2}}


def test_eager_calls_round_trip(app: Any) -> None:
    app.conf.task_always_eager = True
    buy, _ = make_tasks(app)
    assert buy.delay(Order(item="x", quantity=5)).get() == {"total": 10}


def test_a_missing_pydantic_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pydantic", None)
    app = celeriac.Celery("nopyd", broker=f"memory://{uuid.uuid4().hex}")
    with pytest.raises(celeriac.exceptions.ImproperlyConfigured, match=r"celeriac\[pydantic\]"):
        @task(app, name="pyd.none", pydantic=True)
        def none(order: Any) -> None:
            return None
    app.close()
