"""``GuardedCalls``: an outage is logged once, however many threads of a channel meet it.

The fetch and ack threads of one channel lose a restarted Redis at the same instant and regain
it at the same instant; the bookkeeping is tested here on its own, with calls that fail with
redis-py's own ``ConnectionError`` and then succeed (the real-server test of the same promise
is ``tests/integration/test_redis_restart.py``).
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from celeriac.clients.redis_guard import GuardedCalls
from celeriac.config.frozen import TransportOptions


class Guarded(GuardedCalls):
    """A guard whose every read of its outage flag lets other threads run: the worst moment
    for a check-then-set (a real thread switch can land there too)."""

    @property
    def _failing(self) -> bool:
        value = self._flag
        time.sleep(0.001)
        return value

    @_failing.setter
    def _failing(self, value: bool) -> None:
        self._flag = value

    def __init__(self) -> None:
        self._flag = False
        self.options = TransportOptions()
        self.where = "redis://test"
        self._failing = False
        self._recoveries = 0
        self.connection_lost = None
        self.retry_stopped = threading.Event()


def test_threads_meeting_one_outage_together_log_it_once(
        caplog: pytest.LogCaptureFixture) -> None:
    guarded = Guarded()
    threads_count = 8
    all_failed_once = threading.Barrier(threads_count)

    def call() -> None:
        failed = False

        def attempt() -> str:
            nonlocal failed
            if not failed:
                failed = True
                all_failed_once.wait(5)  # every thread fails before any recovers...
                raise redis.ConnectionError("Connection closed by server.")
            return "ok"

        assert guarded._call(attempt, "fetch") == "ok"  # ...and all retry at once

    with caplog.at_level(logging.INFO, "celeriac.transport.redis.channel"):
        threads = [threading.Thread(target=call) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("connection lost" in m for m in messages) == 1, messages
    assert sum("re-established" in m for m in messages) == 1, messages
    assert not guarded._failing and guarded._recoveries == 1
