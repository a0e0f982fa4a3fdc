"""The Redis result store stopped and started again under a worker running ``acks_late`` tasks.

Issue 11, defect 3: results completed while the store was down were logged as "Could not
store" and their messages acknowledged anyway, so ``get()`` waited forever. The store here is
a private ``redis-server`` (stopped and started by PID); the broker is a SQLite file, which
stays up. Every result must be readable once the store is back, and the broker must end empty
(no message lost, none still leased).

With Celery's default (``result_backend_always_retry`` off) a result that cannot be stored
sends its message back, so its task may run more than once; with retries on, the results
wait in the worker (their messages still leased) and each task runs exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import import_app_module, running_worker, unique_name, wait_until
from tests.integration.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

APP_SOURCE = """
import os, time
from celeriac import Celery

app = Celery({name!r}, broker={broker!r}, backend={results!r})
app.conf.update({settings!r})
RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.txt")


@app.task(acks_late=True)
def double(n):
    time.sleep(0.02)  # tasks still finish while the store is down
    with open(RUNS, "a") as fh:
        fh.write(f"{{n}}\\n")
    return 2 * n
"""

TOTAL = 200
RETRY = {"result_backend_always_retry": True,
         "result_backend_base_sleep_between_retries_ms": 10,
         "result_backend_max_sleep_between_retries_ms": 200}


def runs(folder: Path) -> list[int]:
    path = folder / "runs.txt"
    return [int(n) for n in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("settings", [{}, RETRY], ids=["celery-default", "always-retry"])
def test_results_finished_while_the_store_is_down_are_stored_once_it_is_back(
        settings: dict[str, Any], server: RedisServer, tmp_path: Path) -> None:
    name = unique_name("store_outage")
    broker = f"sqlite:///{tmp_path / 'broker.db'}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE.format(
        name=name, broker=broker, results=server.url(0), settings=settings))
    module: Any = import_app_module(tmp_path, name)
    try:
        with module.app.publish_batch():
            results = [module.double.delay(i) for i in range(TOTAL)]
        with running_worker(tmp_path, "-A", name, "worker", "-P", "threads", "-c", "2",
                            "-l", "info") as worker:
            wait_until(lambda: len(runs(tmp_path)) >= 20, 30, message="the first tasks")
            server.stop()
            # Down until the worker has failed to store some results: tasks kept finishing.
            wait_until(lambda: "Could not store" in worker.log(), 30,
                       message="the worker to meet the stopped store")
            assert len(set(runs(tmp_path))) < TOTAL, "the outage must land while tasks run"
            server.start()
            values = [result.get(timeout=60) for result in results]
            assert values == [2 * i for i in range(TOTAL)]
            channel = module.app.transport.channel()
            wait_until(lambda: channel.size("celery") == 0, 30, message="an empty queue")
            assert worker.process.poll() is None, "the worker carried on"
            log = worker.log()
        assert "Traceback" not in log
        assert set(runs(tmp_path)) == set(range(TOTAL))
        if settings:
            assert sorted(runs(tmp_path)) == list(range(TOTAL)), "each task ran once"
            assert "stay unacknowledged" in log
        else:
            assert "go back to the broker" in log
    finally:
        module.app.close()
