"""How the consumer settles a long batch: in parts, while the batch still runs.

A broker that counts unacknowledged messages (AMQP's QoS) sends nothing new until acks come
back, so a worker that acked only after a whole batch of hundreds would leave the broker idle
while it runs them, then itself idle while the next batch travels.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from celeriac import Celery
from celeriac.transport.base import Delivery
from celeriac.worker.consumer import MIN_FLUSH, Consumer
from celeriac.worker.prefetcher import InlineFetcher
from celeriac.worker.worker import Worker, WorkerOptions


def _consumer(app: Celery) -> Consumer:
    # The multiplier is left to its default: the window may widen for short tasks.
    worker = Worker(app, WorkerOptions(pool="solo", concurrency=1))
    consumer = worker.setup()
    consumer.prefetcher = InlineFetcher(consumer.channel, consumer.queues)
    return consumer


def test_a_long_batch_is_acknowledged_in_parts_as_it_runs() -> None:
    app = Celery("batches", broker=f"memory://{uuid.uuid4().hex}")
    @app.task(name="batches.note")
    def note(i: int) -> None:
        """Replaced below by a probe of how many acks were sent before it ran."""

    consumer = _consumer(app)
    consumer._average_runtime = 1e-6  # short tasks: the window opens to its widest
    window = consumer.window()
    ack_sizes: list[int] = []
    acked_before_task: dict[int, int] = {}
    plain_ack = consumer.channel.ack

    def recording_ack(deliveries: Sequence[Delivery]) -> None:
        ack_sizes.append(len(deliveries))
        plain_ack(deliveries)

    consumer.channel.ack = recording_ack  # type: ignore[method-assign]
    note.run = lambda i: acked_before_task.setdefault(i, sum(ack_sizes))  # type: ignore[method-assign,misc]
    count = window
    with app.publish_batch():
        for i in range(count):
            note.delay(i)

    consumer.step()  # one fetch of the whole window, run as one batch
    consumer.drain_completed()

    assert len(acked_before_task) == count
    flush_every = max(MIN_FLUSH, window // 4)
    assert ack_sizes[0] == flush_every  # the first part went out mid-batch...
    assert acked_before_task[flush_every] == flush_every  # ...before later tasks ran
    assert sum(ack_sizes) == count
    assert consumer.channel.size(consumer.queues[0]) == 0


def test_inline_fetching_waits_instead_of_spinning_when_the_window_is_full() -> None:
    app = Celery("batches-full", broker=f"memory://{uuid.uuid4().hex}")
    consumer = _consumer(app)
    fetcher = InlineFetcher(consumer.channel, consumer.queues)
    fetcher.allow(0)
    started = time.monotonic()
    assert fetcher.take(0.1) == []
    assert time.monotonic() - started >= 0.09
