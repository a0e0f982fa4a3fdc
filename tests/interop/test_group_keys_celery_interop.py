"""Saved groups on Redis are shared with Celery 5.7: each side restores the group the other
saved (``celery-taskset-meta-<gid>``, wire-protocol.md §4.3), under a ``global_keyprefix`` too.

No worker: the stores are the whole conversation. Celery's side runs in a child process, so
the pub/sub connections its ``GroupResult`` opens for its members end with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.results.group_result import GroupResult
from tests.helpers import flushed_redis
from tests.suite_redis import suite_redis_url

pytest.importorskip("celery")

pytestmark = pytest.mark.redis
RESULTS = suite_redis_url(14)

#: argv: results URL, transport options (JSON), "save" or "restore", group id, members (JSON).
CELERY_SIDE = """
import json, os, sys
from celery import Celery
app = Celery("groups_theirs", broker="memory://", backend=sys.argv[1])
app.conf.result_backend_transport_options = json.loads(sys.argv[2])
command, gid, members = sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
if command == "save":
    app.GroupResult(gid, [app.AsyncResult(m) for m in members]).save()
    answer = None
else:
    restored = app.GroupResult.restore(gid)
    answer = None if restored is None else [restored.id, [r.id for r in restored.results]]
print(json.dumps(answer), flush=True)
os._exit(0)
"""


class Stores:
    """celeriac's app and Celery's side on one results database, with one key prefix."""

    def __init__(self, prefix: str, client: Any) -> None:
        self.options = {"global_keyprefix": prefix} if prefix else {}
        self.key_prefix = f"{prefix}_" if prefix else ""
        self.client = client
        self.ours = Celery("groups_ours", broker="memory://", backend=RESULTS,
                           set_as_current=False)
        self.ours.conf.result_backend_transport_options = self.options

    def celery(self, command: str, gid: str, members: list[str] | None = None) -> Any:
        done = subprocess.run(
            [sys.executable, "-c", CELERY_SIDE, RESULTS, json.dumps(self.options), command, gid,
             json.dumps(members or [])],
            capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["", "groups"], ids=["no-prefix", "global-keyprefix"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    prefix = f"{request.param}-{uuid.uuid4().hex[:8]}" if request.param else ""
    with flushed_redis(RESULTS) as client:
        made = Stores(prefix, client)
        yield made
        made.ours.backend.close()


def test_celery_restores_the_group_celeriac_saved(stores: Stores) -> None:
    gid = str(uuid.uuid4())
    members = [str(uuid.uuid4()) for _ in range(3)]
    GroupResult(gid, [stores.ours.AsyncResult(m) for m in members], app=stores.ours).save()
    assert stores.client.exists(f"{stores.key_prefix}celery-taskset-meta-{gid}")
    assert stores.celery("restore", gid) == [gid, members]


def test_celeriac_restores_the_group_celery_saved(stores: Stores) -> None:
    gid = str(uuid.uuid4())
    members = [str(uuid.uuid4()) for _ in range(3)]
    stores.celery("save", gid, members)
    restored = GroupResult.restore(gid, app=stores.ours)
    assert restored is not None and restored.id == gid
    assert [r.id for r in restored] == members
    restored.delete()
    assert stores.celery("restore", gid) is None
