"""``app.backend``'s Celery methods against Celery 5.7's on one Redis: what each side stores
with ``store_result``/``mark_as_failure`` the other reads with ``get_task_meta``, identically.

No worker: the stores are the whole conversation. Celery's side runs in a child process, so
its pub/sub connections end with it. Task ids are unique per run; nothing is flushed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from celeriac import Celery, states
from tests.suite_redis import require_suite_redis, suite_redis_url

pytest.importorskip("celery")

pytestmark = pytest.mark.redis
RESULTS = suite_redis_url(13)

@pytest.fixture(autouse=True)
def _redis() -> None:
    require_suite_redis()


#: How each side reports what its ``app.backend`` reads (run in both processes).
SUMMARY = """
def summary(backend, ids):
    answer = []
    for task_id in ids:
        meta = backend.get_task_meta(task_id)
        result = meta["result"]
        if isinstance(result, BaseException):
            result = [type(result).__name__, list(result.args)]
        answer.append([meta["status"], result, meta.get("traceback"), backend.get_state(task_id)])
    return answer
"""

#: argv: results URL, "write" or "read", the ids (JSON).
CELERY_SIDE = SUMMARY + """
import json, os, sys
from celery import Celery
app = Celery("api_theirs", broker="memory://", backend=sys.argv[1])
command, ids = sys.argv[2], json.loads(sys.argv[3])
backend = app.backend
if command == "write":
    backend.store_result(ids[0], {"a": [1, 2]}, "SUCCESS")
    backend.mark_as_failure(ids[1], KeyError("gone"), traceback="Traceback: theirs")
    answer = None
else:
    answer = summary(backend, ids)
print(json.dumps(answer), flush=True)
os._exit(0)
"""


def _celery(command: str, ids: list[str]) -> Any:
    done = subprocess.run([sys.executable, "-c", CELERY_SIDE, RESULTS, command, json.dumps(ids)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours(ids: list[str]) -> list[Any]:
    app = Celery("api_ours", broker="memory://", backend=RESULTS, set_as_current=False)
    namespace: dict[str, Any] = {}
    exec(SUMMARY, namespace)
    try:
        return list(namespace["summary"](app.backend, ids))
    finally:
        app.close()


def test_celery_writes_celeriac_reads_the_same() -> None:
    ids = [f"api-interop-{uuid.uuid4().hex}" for _ in range(3)]
    _celery("write", ids[:2])
    assert _ours(ids) == _celery("read", ids) == [
        [states.SUCCESS, {"a": [1, 2]}, None, states.SUCCESS],
        [states.FAILURE, ["KeyError", ["gone"]], "Traceback: theirs", states.FAILURE],
        [states.PENDING, None, None, states.PENDING],
    ]


def test_celeriac_writes_celery_reads_the_same() -> None:
    ids = [f"api-interop-{uuid.uuid4().hex}" for _ in range(2)]
    app = Celery("api_ours", broker="memory://", backend=RESULTS, set_as_current=False)
    backend: Any = app.backend
    try:
        backend.store_result(ids[0], {"a": [1, 2]}, states.SUCCESS)
        backend.mark_as_failure(ids[1], KeyError("gone"), traceback="Traceback: ours")
    finally:
        app.close()
    assert _celery("read", ids) == _ours(ids) == [
        [states.SUCCESS, {"a": [1, 2]}, None, states.SUCCESS],
        [states.FAILURE, ["KeyError", ["gone"]], "Traceback: ours", states.FAILURE],
    ]
