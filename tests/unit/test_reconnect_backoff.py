"""The broker reconnect backoff: capped exponential, bounded by broker_connection_max_retries."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from celeriac.clients.retry import MAX_WAIT, ReconnectPolicy, backoff_intervals, backoff_wait
from celeriac.worker.broker_wait import startup_policy


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    waits = list(backoff_intervals(8, first=0.5, cap=4.0))
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]


def test_default_backoff_is_capped_and_never_shrinks() -> None:
    waits = list(backoff_intervals(100))
    assert len(waits) == 100
    assert waits[0] < 1.0
    assert max(waits) == MAX_WAIT
    assert waits == sorted(waits)
    assert backoff_wait(10_000) == MAX_WAIT  # no overflow for long outages


def test_none_retries_forever() -> None:
    assert len(list(itertools.islice(backoff_intervals(None), 1000))) == 1000


def test_policy_follows_celerys_reading_of_the_settings() -> None:
    assert ReconnectPolicy(retry=True, max_retries=3).limit == 3
    assert list(ReconnectPolicy(retry=True, max_retries=3).intervals()) == [
        backoff_wait(0), backoff_wait(1), backoff_wait(2)]
    assert ReconnectPolicy(retry=True, max_retries=0).limit is None  # 0: forever
    assert ReconnectPolicy(retry=True, max_retries=None).limit is None
    assert ReconnectPolicy(retry=False, max_retries=100).limit == 0
    assert list(ReconnectPolicy(retry=False).intervals()) == []


def test_startup_policy_reads_retry_on_startup_then_retry() -> None:
    def conf(on_startup: bool | None, retry: bool, max_retries: int | None) -> SimpleNamespace:
        return SimpleNamespace(broker_connection_retry_on_startup=on_startup,
                               broker_connection_retry=retry,
                               broker_connection_max_retries=max_retries)

    assert startup_policy(conf(False, True, 100)).limit == 0
    assert startup_policy(conf(None, False, 100)).limit == 0
    assert startup_policy(conf(None, True, 7)).limit == 7
    assert startup_policy(conf(True, False, 0)).limit is None
