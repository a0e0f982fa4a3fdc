"""Remote control is not implemented on RabbitMQ yet: the client's error and the worker's log
say so, and name the brokers where it works, instead of advising the scheme just refused."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured
from tests.helpers import in_process_worker, wait_until
from tests.integration.amqp_vhost import Vhost, rabbitmq_vhost

pytestmark = pytest.mark.amqp

WHERE_IT_WORKS = ("Redis (redis://", "SQLite (sqlite://)", "memory://",
                  "on RabbitMQ (amqp://) it is not implemented yet")


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("rc_limit") as made:
        yield made


def test_inspect_on_rabbitmq_says_what_works(vhost: Vhost) -> None:
    app = Celery("rc", broker=vhost.url, backend=f"cache+memory://{uuid.uuid4().hex}")
    with pytest.raises(ImproperlyConfigured) as raised:
        app.control.inspect(timeout=0.2).ping()
    message = str(raised.value)
    assert "not available on the amqp:// broker" in message
    assert all(part in message for part in WHERE_IT_WORKS)
    assert "use amqp://" not in message


def test_a_worker_on_rabbitmq_logs_the_limit(vhost: Vhost,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.worker.control.node")
    app = Celery("rc", broker=vhost.url, backend=f"cache+memory://{uuid.uuid4().hex}")
    with in_process_worker(app, pool="solo"):
        wait_until(lambda: any("Remote control" in r.getMessage() for r in caplog.records))
    [message] = [r.getMessage() for r in caplog.records if "Remote control" in r.getMessage()]
    assert "not available on the amqp:// broker" in message
    assert all(part in message for part in WHERE_IT_WORKS)
