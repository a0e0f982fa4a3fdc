"""Several OS processes on one SQLite broker file: exactly-once delivery, and SIGKILL recovery.

The consumers are small scripts run with this interpreter; they print one line per message they
ack (``GOT <task id> <redelivered>``), so the test sees exactly who received what.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from celeriac.transport.sqlite import SqliteChannel, SqliteTransport

pytestmark = pytest.mark.slow

CHILD = r"""
import sys, time
from celeriac.config.frozen import TransportOptions
from celeriac.transport.sqlite import SqliteChannel, SqliteTransport

mode, db, queue, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
transport = SqliteTransport(db, TransportOptions(lease_timeout=1.0, heartbeat_interval=0.2))
channel = transport.channel()
last_beat = 0.0

def beat():
    global last_beat
    if time.monotonic() - last_beat >= 0.2:
        channel.heartbeat()
        last_beat = time.monotonic()

if mode == "hold":
    held = []
    while len(held) < count:
        held += channel.fetch([queue], count - len(held), timeout=1.0)
    print("LEASED", len(held), flush=True)
    while True:
        channel.heartbeat()
        time.sleep(0.2)

acked = 0
while count <= 0 or acked < count:
    beat()
    batch = channel.fetch([queue], 10, timeout=0.2)
    for i, delivery in enumerate(batch):
        if delivery.message.headers.get("stop"):
            channel.reject(batch[i + 1:], requeue=True)
            channel.ack([delivery])
            transport.close()
            sys.exit(0)
        print("GOT", delivery.message.task_id, int(delivery.redelivered), flush=True)
        channel.ack([delivery])
        acked += 1
transport.close()
"""

TIMEOUT = 60.0


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes the test starts; any still alive at the end is killed by its PID."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _start(procs: list[subprocess.Popen[str]], tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "child.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    return proc


def _publish(db: str, queue: str, count: int, **headers: object) -> list[str]:
    transport = SqliteTransport(db, TransportOptions())
    ids = [str(uuid.uuid4()) for _ in range(count)]
    batch = [
        Outbound(TaskMessage({"id": i, "task": "t", **headers}, {}, b"[[], {}, {}]"), queue)
        for i in ids
    ]
    transport.channel().publish(batch)
    transport.close()
    return ids


def _received(output: str) -> list[tuple[str, bool]]:
    return [
        (parts[1], parts[2] == "1")
        for parts in (line.split() for line in output.splitlines())
        if parts and parts[0] == "GOT"
    ]


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return ""
    return proc.stdout.readline()


def _diagnose(proc: subprocess.Popen[str], line: str) -> str:
    """What to show when a child did not say what we waited for."""
    if proc.poll() is None or proc.stderr is None:
        return f"child {proc.pid} said {line!r}"
    return f"child {proc.pid} exited {proc.returncode}: {proc.stderr.read()}"


def test_two_processes_consume_each_message_exactly_once(
    tmp_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    db, queue = str(tmp_path / "broker.db"), "work"
    ids = _publish(db, queue, 300)
    _publish(db, queue, 2, stop=True)
    consumers = [_start(spawn, tmp_path, "consume", db, queue, "0") for _ in range(2)]
    outputs = []
    for proc in consumers:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        outputs.append(_received(out))
    received = [task_id for output in outputs for task_id, _ in output]
    assert sorted(received) == sorted(ids)


def test_leases_of_a_sigkilled_process_go_to_the_other(
    tmp_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    db, queue = str(tmp_path / "broker.db"), "work"
    ids = _publish(db, queue, 50)
    holder = _start(spawn, tmp_path, "hold", db, queue, "50")
    line = _read_line(holder, TIMEOUT)
    assert line.split() == ["LEASED", "50"], _diagnose(holder, line)
    survivor = _start(spawn, tmp_path, "consume", db, queue, "50")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(TIMEOUT)
    out, err = survivor.communicate(timeout=TIMEOUT)
    assert survivor.returncode == 0, err
    received = _received(out)
    assert sorted(task_id for task_id, _ in received) == sorted(ids)
    assert all(redelivered for _, redelivered in received)


def _fork_child_run(channel: SqliteChannel, queue: str) -> int:
    """In the child: use the inherited channel; 0 when it saw only its own message."""
    channel.publish([Outbound(TaskMessage({"id": "child"}, {}, b"[]"), queue)])
    got = channel.fetch([queue], 10, timeout=TIMEOUT)
    channel.ack(got)
    return 0 if [d.message.task_id for d in got] == ["child"] else 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_channel_used_across_fork_gets_a_fresh_connection_and_identity(tmp_path: Path) -> None:
    queue = "work"
    transport = SqliteTransport(str(tmp_path / "broker.db"), TransportOptions())
    channel = transport.channel()
    channel.publish([Outbound(TaskMessage({"id": "parent"}, {}, b"[]"), queue)])
    held = channel.fetch([queue], 1, timeout=TIMEOUT)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = _fork_child_run(channel, queue)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    channel.heartbeat()
    channel.ack(held)
    assert channel.size(queue) == 0
    assert channel.fetch([queue], 10, timeout=0) == []
    transport.close()
