"""A message the dispatcher cannot decide about is set aside alone; its batch runs on.

Before: ``eta``/``expires`` were parsed outside the dispatcher's guard, so one unreadable date
raised out of the consumer's step and every later message of the fetched batch stayed leased,
unrun, until a restart.
"""

from __future__ import annotations

import uuid

import pytest

from celeriac import Celery
from celeriac.protocol.message import TaskMessage
from celeriac.protocol.task_message import build_v2
from celeriac.transport.base import Delivery, Outbound
from celeriac.worker.consumer import Consumer
from celeriac.worker.dispatch import Decision
from celeriac.worker.prefetcher import InlineFetcher
from celeriac.worker.worker import Worker, WorkerOptions

#: Header values Celery's worker refuses too (``maybe_iso8601`` takes ISO strings only; a
#: number is turned into a date by the *sender*, never sent as such).
BAD_DATES = [
    ("eta", "tomorrow at noon"),
    ("expires", 12345),
    ("eta", 12345),
    ("expires", "not a date"),
    ("eta", ["2030-01-01"]),
    ("expires", {"at": "noon"}),
]


def _consumer(app: Celery) -> Consumer:
    worker = Worker(app, WorkerOptions(pool="solo", concurrency=1, prefetch_multiplier=64))
    consumer = worker.setup()
    consumer.prefetcher = InlineFetcher(consumer.channel, consumer.queues)
    return consumer


def test_an_unreadable_eta_or_expires_sets_aside_that_message_alone() -> None:
    app = Celery("poison_dates", broker=f"memory://{uuid.uuid4().hex}")
    ran: list[int] = []

    @app.task(name="poison_dates.note")
    def note(i: int) -> None:
        ran.append(i)

    consumer = _consumer(app)
    batch: list[Outbound] = []
    for i, (field, value) in enumerate(BAD_DATES):
        batch.append(Outbound(_message("poison_dates.note", i), "celery"))
        bad = _message("poison_dates.note", -1)
        bad.headers[field] = value
        batch.append(Outbound(bad, "celery"))
    consumer.channel.publish(batch)

    consumer.step()  # one fetch takes the whole batch
    consumer.drain_completed()

    assert sorted(ran) == list(range(len(BAD_DATES)))
    letters = consumer.channel.dead_letters(100)
    assert len(letters) == len(BAD_DATES)
    assert all(letter.reason.startswith("invalid message: timestamp") for letter in letters)
    assert consumer.channel.size("celery") == 0


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00"])
def test_a_valid_far_eta_is_still_deferred(value: str) -> None:
    app = Celery("poison_dates_ok", broker=f"memory://{uuid.uuid4().hex}")

    @app.task(name="poison_dates_ok.note")
    def note(i: int) -> None:
        raise AssertionError("must not run before its eta")

    consumer = _consumer(app)
    message = _message("poison_dates_ok.note", 0)
    message.headers["eta"] = value
    consumer.channel.publish([Outbound(message, "celery")])
    consumer.step()
    consumer.drain_completed()
    assert consumer.channel.dead_letters(10) == []


def _message(name: str, i: int) -> TaskMessage:
    return build_v2(task_name=name, task_id=str(uuid.uuid4()), args=(i,), kwargs={},
                    origin="test@host")


def test_a_failure_handling_one_message_sets_it_aside_and_the_batch_runs_on() -> None:
    """The consumer's own guard, for failures outside the dispatcher (a bug, a store error)."""
    app = Celery("poison_guard", broker=f"memory://{uuid.uuid4().hex}")
    ran: list[int] = []

    @app.task(name="poison_guard.note")
    def note(i: int) -> None:
        ran.append(i)

    consumer = _consumer(app)
    messages = [_message("poison_guard.note", i) for i in range(5)]
    doomed = messages[2].task_id
    decide = consumer.dispatcher.decide

    def failing_decide(delivery: Delivery) -> Decision:
        if delivery.message.task_id == doomed:
            raise RuntimeError("a bug while deciding")
        return decide(delivery)

    consumer.dispatcher.decide = failing_decide  # type: ignore[method-assign]
    consumer.channel.publish([Outbound(m, "celery") for m in messages])
    consumer.step()
    consumer.drain_completed()

    assert sorted(ran) == [0, 1, 3, 4]
    (letter,) = consumer.channel.dead_letters(10)
    assert "failed while handling it" in letter.reason
