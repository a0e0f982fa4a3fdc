"""A prefetch multiplier the user set is a hard ceiling on leased-but-unsettled messages.

Issue 11, defect 1: with ``worker_prefetch_multiplier = 1`` a solo worker leased 500 messages
behind one long task (the window widened for short tasks although the user had chosen the
multiplier), and a pool of 4 sometimes leased 7 (the fetcher counted a batch it had just
handed over as free room). The broker's own lease table is watched the whole time: with
concurrency N and multiplier 1 it never holds more than N of this worker's messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.transport.memory import MemoryTransport
from celeriac.worker.prefetcher import Prefetcher
from celeriac.worker.worker import Worker, WorkerOptions
from tests.helpers import wait_until

QUICK = 60
BEHIND_THE_GATE = 120


class LeaseWatch:
    """Samples the in-process broker's lease table from a thread; keeps the largest count."""

    def __init__(self, app: Celery) -> None:
        transport = app.transport
        assert isinstance(transport, MemoryTransport)
        self._broker = transport._broker
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-watch")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._broker.cond:
                leased = len(self._broker.leased)
            self.most = max(self.most, leased)
            self.samples += 1
            time.sleep(0.001)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _app(gate: Path) -> Celery:
    name = uuid.uuid4().hex
    app = Celery("ceiling", broker=f"memory://{name}", backend=f"cache+memory://{name}")
    app.conf.worker_prefetch_multiplier = 1  # chosen by the user: a hard ceiling

    @app.task(name="ceiling.quick")
    def quick(i: int) -> int:
        return i

    @app.task(name="ceiling.gated")
    def gated() -> str:
        """Runs until the test opens the gate (a file: prefork children see it too)."""
        (gate.parent / "started").touch()
        while not gate.exists():
            time.sleep(0.005)
        return "done"

    return app


@pytest.fixture(params=["solo", "threads", "prefork"])
def pool(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gate"
    yield path
    path.touch()  # never leave a task (or a prefork child) waiting


def test_an_explicit_multiplier_is_a_hard_ceiling(pool: str, gate: Path) -> None:
    concurrency = 1 if pool == "solo" else 3
    app = _app(gate)
    worker = Worker(app, WorkerOptions(pool=pool, concurrency=concurrency))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    with LeaseWatch(app) as watch:
        thread.start()
        try:
            quick = app.tasks["ceiling.quick"]
            # Short tasks first: a widening window would open to hundreds of messages now.
            assert [r.get(timeout=30) for r in quick.delay_many([(i,) for i in range(QUICK)])] \
                == list(range(QUICK))
            gated = [app.send_task("ceiling.gated") for _ in range(concurrency)]
            behind = quick.delay_many([(i,) for i in range(BEHIND_THE_GATE)])
            wait_until(lambda: (gate.parent / "started").exists(), 30, message="a gated task")
            # Give the fetcher many chances to over-fetch while every slot is busy; the
            # verdict is the lease count, never a duration.
            seen = watch.samples
            wait_until(lambda: watch.samples >= seen + 200, 30, message="lease samples")
            gate.touch()
            assert [r.get(timeout=60) for r in gated] == ["done"] * concurrency
            assert [r.get(timeout=60) for r in behind] == list(range(BEHIND_THE_GATE))
        finally:
            gate.touch()
            worker.stop()
            thread.join(60)
    assert 0 < watch.most <= concurrency, (
        f"{pool} x{concurrency} with multiplier 1 leased {watch.most} messages at once")


def test_only_the_default_multiplier_lets_the_window_widen() -> None:
    """Left to its default, the window still widens (short tasks are not one round trip
    each); the same value set explicitly, or given on the command line, does not."""
    name = uuid.uuid4().hex
    app = Celery("ceiling-default", broker=f"memory://{name}")
    worker = Worker(app, WorkerOptions(pool="solo", concurrency=1))
    assert worker.prefetch_window() == (4, True)
    app.conf.worker_prefetch_multiplier = 4  # the same value, but chosen
    assert worker.prefetch_window() == (4, False)
    flag = Worker(Celery("flag", broker=f"memory://{name}"),
                  WorkerOptions(pool="solo", concurrency=2, prefetch_multiplier=3))
    assert flag.prefetch_window() == (6, False)
    consumer = worker.setup()
    consumer._average_runtime = 1e-6
    assert consumer.window() == 4  # chosen: no widening
    consumer.adaptive_window = True
    assert consumer.window() > 4


def test_a_batch_handed_over_is_not_free_room_for_the_fetcher() -> None:
    """The 4x1-leased-7 race: once the consumer takes a batch, the fetcher may not fetch
    again until the consumer, having counted the batch, allows it."""
    app = Celery("handover", broker=f"memory://{uuid.uuid4().hex}")
    channel = app.transport.channel()
    channel.declare(["celery"])
    with app.publish_batch():
        for i in range(20):
            app.send_task("handover.any", (i,))
    arrived = threading.Event()
    fetcher = Prefetcher(channel, ["celery"], arrived)
    fetcher.allow(4)
    with LeaseWatch(app) as watch:
        fetcher.start()
        try:
            wait_until(arrived.is_set, 10, message="the first batch")
            batch = fetcher.take()
            assert len(batch) == 4
            seen = watch.samples
            wait_until(lambda: watch.samples >= seen + 200, 30, message="lease samples")
            assert watch.most == 4
            fetcher.allow(2)  # the consumer settled two of the four
            wait_until(lambda: len(fetcher.take()) == 2 or watch.most > 6, 10,
                       message="the next batch")
        finally:
            channel.reject(fetcher.stop(), requeue=True)
    assert watch.most == 6
