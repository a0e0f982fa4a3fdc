"""The worker banner names each queue's real exchange, exchange type and binding key."""

from __future__ import annotations

from celeriac import Celery, Exchange, Queue
from celeriac.cli.banner import queue_line


def app_with_queues() -> Celery:
    app = Celery("banner_queues", broker="memory://")
    app.conf.task_queues = (
        Queue("default", Exchange("default"), routing_key="default"),
        Queue("web_tasks", Exchange("tasks", type="topic"), routing_key="web.#"),
        Queue("fan", Exchange("bcast", type="fanout"), routing_key="any"),
    )
    return app


def test_user_queues_show_their_exchange_type_and_key() -> None:
    app = app_with_queues()
    assert queue_line(app, "web_tasks").split() == ["web_tasks", "exchange=tasks(topic)",
                                                     "key=web.#"]
    assert queue_line(app, "fan").split() == ["fan", "exchange=bcast(fanout)", "key=any"]
    assert queue_line(app, "default").split() == ["default", "exchange=default(direct)",
                                                   "key=default"]


def test_default_and_missing_queues_as_celery_shows_them() -> None:
    assert queue_line(Celery("b1", broker="memory://"), "celery").split() == [
        "celery", "exchange=celery(direct)", "key=celery"]
    app = app_with_queues()
    assert queue_line(app, "other").split() == ["other", "exchange=other(direct)", "key=other"]
    fresh = Celery("b2", broker="memory://")
    fresh.conf.task_create_missing_queues = False
    assert "QueueNotFound" in queue_line(fresh, "nowhere")
