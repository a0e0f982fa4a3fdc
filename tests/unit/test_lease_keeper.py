"""When no lease keeper can run, the worker says so and keeps renewing leases itself."""

from __future__ import annotations

import logging

import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.transport.lease_keeper import start_keeper
from celeriac.transport.memory import MemoryTransport


class UnpicklableRenewer:
    def __init__(self) -> None:
        self.connect = lambda: None  # a lambda cannot be pickled

    def renew(self) -> None:
        """Never called."""

    def close(self) -> None:
        """Never called."""


class ChannelWithUnpicklableRenewer:
    def liveness_renewer(self) -> UnpicklableRenewer:
        return UnpicklableRenewer()


def test_an_unpicklable_renewer_warns_and_starts_no_keeper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert start_keeper(ChannelWithUnpicklableRenewer(), 1.0) is None
    assert "No lease keeper" in caplog.text


def test_an_in_process_broker_needs_no_keeper() -> None:
    channel = MemoryTransport.from_url("memory://", TransportOptions()).channel()
    assert start_keeper(channel, 1.0) is None
