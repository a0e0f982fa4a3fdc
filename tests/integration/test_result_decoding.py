"""A stored result that does not decode raises celeriac's ``DecodeError`` (a sentence naming
the task), never a raw ``UnicodeDecodeError``/``JSONDecodeError``/``AttributeError``.

SQLite writes the bad record through the store's own key-value primitive; Redis runs as a
private ``redis-server`` and gets the bytes with a plain ``SET``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.backends.base import TASK_KEY_PREFIX
from celeriac.exceptions import CeleriacError, DecodeError
from tests.helpers import unique_name
from tests.integration.redis_server import RedisServer

BAD_RECORDS = {
    "not-utf8": b"\xff\xfe\x00garbage",
    "not-json": b'{"status": "SUCCESS", "result": ',
    "not-an-object": b'"SUCCESS"',
    "a-list": b'[1, 2, 3]',
}


def check_raises_decode_error(app: Celery, task_id: str) -> None:
    result = app.AsyncResult(task_id)
    with pytest.raises(DecodeError) as info:
        result.get(timeout=5)
    assert isinstance(info.value, CeleriacError)
    assert task_id in str(info.value)
    with pytest.raises(DecodeError):
        _ = result.state


@pytest.mark.parametrize("raw", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_sqlite_result_that_does_not_decode(tmp_path: Path, raw: bytes) -> None:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    app = Celery(unique_name("decode"), broker=url, backend=url)
    try:
        task_id = str(uuid.uuid4())
        app.backend._kv_set_many([(TASK_KEY_PREFIX + task_id, raw)], None)  # type: ignore[attr-defined]
        check_raises_decode_error(app, task_id)
    finally:
        app.close()


@pytest.mark.redis
@pytest.mark.parametrize("raw", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_redis_result_that_does_not_decode(server: RedisServer, raw: bytes) -> None:
    app = Celery(unique_name("decode"), broker=server.url(0), backend=server.url(1))
    try:
        task_id = str(uuid.uuid4())
        server.client(1).set(TASK_KEY_PREFIX + task_id, raw)
        check_raises_decode_error(app, task_id)
    finally:
        app.close()
