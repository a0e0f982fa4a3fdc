"""The worker in-process on ``memory://``: behaviours cheaper to prove without a subprocess."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.exceptions import EncodeError
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from tests.helpers import in_process_worker

FIXTURES = Path(__file__).parent.parent / "interop" / "fixtures"


@pytest.fixture
def app() -> Iterator[Celery]:
    name = uuid.uuid4().hex
    app = Celery("inproc", broker=f"memory://{name}", backend=f"cache+memory://{name}")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="proj.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(name="proj.unserializable")
    def unserializable() -> object:
        return object()

    with in_process_worker(app, pool="threads", concurrency=2):
        yield app


def test_a_result_that_cannot_be_serialized_is_a_clear_failure(app: Celery) -> None:
    result = app.send_task("proj.unserializable")
    with pytest.raises(EncodeError, match="cannot encode"):
        result.get(timeout=10)
    assert result.state == "FAILURE"


def test_a_celery_protocol_1_message_runs_with_its_link(app: Celery) -> None:
    fixture: dict[str, Any] = json.loads((FIXTURES / "protocol1.json").read_text())
    body = json.loads(base64.b64decode(fixture["body_b64"]))
    body["eta"] = None  # the capture had a countdown; run it now
    message = TaskMessage(headers={}, properties=dict(fixture["properties"]),
                          body=json.dumps(body).encode(),
                          content_type=fixture["content_type"],
                          content_encoding=fixture["content_encoding"])
    app.producer.publish(Outbound(message, routing_key="celery"))
    assert app.AsyncResult(body["id"]).get(timeout=10) == 5
    callback_id = app.AsyncResult(body["id"]).children[0].id  # type: ignore[index]
    assert app.AsyncResult(callback_id).get(timeout=10) == 10


def test_delay_many_sends_every_call_in_one_batch(app: Celery) -> None:
    add = app.tasks["proj.add"]
    results = add.delay_many([(i, i) for i in range(200)])
    assert [r.get(timeout=10) for r in results] == [2 * i for i in range(200)]
    pairs = add.apply_async_many([((1,), {"y": 2}), ((3,), {"y": 4})], queue="celery")
    assert [r.get(timeout=10) for r in pairs] == [3, 7]
