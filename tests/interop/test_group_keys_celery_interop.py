"""Saved groups on Redis are shared with Celery 5.7: each side restores the group the other
saved (``celery-taskset-meta-<gid>``, wire-protocol.md §4.3), under a ``global_keyprefix`` too.
No worker: the stores are the whole conversation."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.results.group_result import GroupResult
from tests.helpers import flushed_redis
from tests.suite_redis import suite_redis_url

celery = pytest.importorskip("celery")

pytestmark = pytest.mark.redis
RESULTS = suite_redis_url(14)


@pytest.fixture(params=["", "groups"], ids=["no-prefix", "global-keyprefix"])
def apps(request: pytest.FixtureRequest) -> Iterator[tuple[Celery, Any, str, Any]]:
    """(celeriac app, Celery app, the prefix of result keys, a client on their database):
    both apps on one results database, with one ``global_keyprefix``."""
    prefix = f"{request.param}-{uuid.uuid4().hex[:8]}" if request.param else ""
    options = {"global_keyprefix": prefix} if prefix else {}
    ours = Celery("groups_ours", broker="memory://", backend=RESULTS)
    ours.conf.result_backend_transport_options = options
    theirs = celery.Celery("groups_theirs", broker="memory://", backend=RESULTS)
    theirs.conf.result_backend_transport_options = options
    with flushed_redis(RESULTS) as client:
        yield ours, theirs, f"{prefix}_" if prefix else "", client
    # Celery's results unsubscribe when collected, reopening the pub/sub connection: let the
    # collectable ones do it now, forget the rest, then close the connections.
    gc.collect()
    theirs.backend.result_consumer.subscribed_to.clear()
    theirs.backend.result_consumer.stop()
    theirs.backend.client.connection_pool.disconnect()
    theirs.close()
    ours.backend.close()


def test_celery_restores_the_group_celeriac_saved(
        apps: tuple[Celery, Any, str, Any]) -> None:
    ours, theirs, key_prefix, client = apps
    gid = str(uuid.uuid4())
    members = [str(uuid.uuid4()) for _ in range(3)]
    GroupResult(gid, [ours.AsyncResult(m) for m in members], app=ours).save()
    assert client.exists(f"{key_prefix}celery-taskset-meta-{gid}")
    restored = theirs.GroupResult.restore(gid)
    assert restored is not None and restored.id == gid
    assert [r.id for r in restored.results] == members


def test_celeriac_restores_the_group_celery_saved(
        apps: tuple[Celery, Any, str, Any]) -> None:
    ours, theirs, _, _ = apps
    gid = str(uuid.uuid4())
    members = [str(uuid.uuid4()) for _ in range(3)]
    theirs.GroupResult(gid, [theirs.AsyncResult(m) for m in members]).save()
    restored = GroupResult.restore(gid, app=ours)
    assert restored is not None and restored.id == gid
    assert [r.id for r in restored] == members
    restored.delete()
    assert theirs.GroupResult.restore(gid) is None
