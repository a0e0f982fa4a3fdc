"""Reading ahead on the AMQP consumer socket leans on py-amqp internals; it must switch off
cleanly, never half-work, when those are not there."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("amqp")

from celeriac.clients.amqp import buffer_reads


class _Sock:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def recv(self, wanted: int) -> bytes:
        self.asked.append(wanted)
        return b""


def _connection(**transport: Any) -> Any:
    return SimpleNamespace(transport=SimpleNamespace(**transport))


def test_reads_ahead_when_py_amqp_has_its_read_buffer() -> None:
    sock = _Sock()
    connection = _connection(sock=sock, _quick_recv=sock.recv, _read_buffer=b"")
    assert buffer_reads(connection, 16384)
    connection.transport._quick_recv(7)
    connection.transport._quick_recv(20000)
    assert sock.asked == [16384, 20000]


def test_stays_off_when_py_amqp_renamed_its_internals() -> None:
    sock = _Sock()
    connection = _connection(sock=sock, _recv=sock.recv)
    assert not buffer_reads(connection, 16384)
    assert not hasattr(connection.transport, "_quick_recv")


def test_stays_off_for_tls_sockets() -> None:
    sock = SimpleNamespace(recv=lambda n: b"", pending=lambda: 0)
    connection = _connection(sock=sock, _quick_recv=sock.recv, _read_buffer=b"")
    assert not buffer_reads(connection, 16384)
