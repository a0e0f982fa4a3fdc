"""``worker_enable_remote_control`` (``CELERY_ENABLE_REMOTE_CONTROL``) turns the control thread
off, as in Celery: the worker then answers no broadcast."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from celeriac import Celery, signals
from celeriac.worker.worker import Worker, WorkerOptions


@pytest.mark.parametrize("enabled", [True, False])
def test_the_worker_answers_pings_only_with_remote_control_enabled(enabled: bool) -> None:
    app = Celery("remote", broker=f"memory://{uuid.uuid4().hex}")
    app.conf.worker_enable_remote_control = enabled
    worker = Worker(app, WorkerOptions(pool="solo", concurrency=1, hostname="rc@test"))
    ready = threading.Event()

    def on_ready(sender: Any = None, **_: Any) -> None:
        if sender is worker:
            ready.set()

    signals.worker_ready.connect(on_ready, weak=False)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        assert ready.wait(10)
        replies = app.control.ping(timeout=1.0)
    finally:
        signals.worker_ready.disconnect(on_ready)
        worker.stop()
        thread.join(30)
    assert ([list(reply) for reply in replies] == [["rc@test"]]) is enabled
