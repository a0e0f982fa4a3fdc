"""The memcached result store against real memcached servers (``tests/memcached_server.py``).

The contract suite proves the store's behaviour; these tests prove what is memcached's own:
several servers, Celery's settings and URL spellings, concurrent writers racing a SUCCESS,
lifetimes memcached reads as dates, outages, and records real Celery's cache backend reads
(Celery 5.7's uses pymemcache, as celeriac does).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymemcache.client.base import Client

from celeriac import Celery, states
from celeriac.backends import resolve_backend
from celeriac.backends.memcached import MAX_RELATIVE_EXPIRES, MemcachedBackend, memcached_expiry
from celeriac.backends.memory import MemoryBackend
from celeriac.config.frozen import BackendOptions
from celeriac.config.options import backend_options
from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.protocol.result_meta import ResultMeta
from tests.memcached_server import MemcachedServer, require_suite_memcached


@pytest.fixture
def two_servers() -> Iterator[tuple[MemcachedServer, MemcachedServer]]:
    first, second = MemcachedServer(), MemcachedServer()
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


def _prefixed(prefix: str, **fields: Any) -> BackendOptions:
    conf = {"result_backend_transport_options": {"global_keyprefix": prefix}, **fields}
    return backend_options(_Conf(conf), backend_url="cache+memcached://x/")


class _Conf(dict[str, Any]):
    """The subset of ``Settings`` that ``backend_options`` reads (``get`` with defaults)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, {"result_expires": 86400}.get(key, default))


def _done(task_id: str, result: Any = 1) -> ResultMeta:
    return ResultMeta(task_id, states.SUCCESS, result)


def _count_on(server: MemcachedServer, keys: list[str]) -> int:
    client = Client(server.address)
    try:
        return len(client.get_many(keys))
    finally:
        client.close()


def test_several_servers_share_the_records_between_them(
        two_servers: tuple[MemcachedServer, MemcachedServer]) -> None:
    first, second = two_servers
    url = f"cache+memcached://{first.address};{second.address}/"
    writer = MemcachedBackend.from_url(url, BackendOptions())
    reader = resolve_backend(url, BackendOptions())
    try:
        ids = [uuid.uuid4().hex for _ in range(40)]
        writer.store([_done(tid, n) for n, tid in enumerate(ids)])
        assert [meta.result for meta in reader.get_many(ids)] == list(range(40))
        counts = [_count_on(server, [f"celery-task-meta-{tid}" for tid in ids])
                  for server in two_servers]
        assert sum(counts) == 40 and min(counts) > 0, counts  # spread over both servers
    finally:
        writer.close()
        reader.close()


def test_celery_spellings_of_the_store_all_resolve() -> None:
    server = require_suite_memcached()
    for url in (f"cache+memcached://{server.address}/", f"cache+memcache://{server.address}",
                f"cache+pymemcache://{server.address}/", f"cache+pylibmc://{server.address}/"):
        store = resolve_backend(url, BackendOptions())
        assert isinstance(store, MemcachedBackend)
        store.close()


def test_result_backend_cache_uses_cache_backend_and_its_options() -> None:
    server = require_suite_memcached()
    app = Celery("cachecfg", backend="cache", set_as_current=False)
    app.conf.cache_backend = f"memcached://{server.address}/"
    app.conf.cache_backend_options = {"timeout": 2.0}
    try:
        store = app.backend
        assert isinstance(store, MemcachedBackend)
        store.store([_done("cache-setting")])
        assert store.get("cache-setting").status == states.SUCCESS
    finally:
        app.close()
    memory = Celery("cachemem", backend="cache", set_as_current=False)
    memory.conf.cache_backend = "memory://"
    assert isinstance(memory.backend, MemoryBackend)
    memory.close()


def test_result_backend_cache_without_cache_backend_says_what_is_missing() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs cache_backend"):
        resolve_backend("cache", BackendOptions())


def test_client_options_are_checked_and_pylibmc_ones_dropped_with_a_warning() -> None:
    server = require_suite_memcached()
    with pytest.raises(ImproperlyConfigured, match="cache_backend_options"):
        MemcachedBackend.from_url(server.url(), BackendOptions(
            cache_backend_options={"no_such_option": 1}))
    with pytest.warns(UserWarning, match="behaviors"):
        store = MemcachedBackend.from_url(server.url(), BackendOptions(
            cache_backend_options={"behaviors": {"tcp_nodelay": True}}))
    store.close()


def test_a_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        resolve_backend("cache+memcached://user:s3cret@127.0.0.1:11211/", BackendOptions())
    assert "s3cret" not in str(info.value)


def test_lifetimes_over_30_days_are_sent_as_a_date() -> None:
    assert memcached_expiry(None) == 0 and memcached_expiry(0.2) == 1
    assert memcached_expiry(3600) == 3600
    absolute = memcached_expiry(MAX_RELATIVE_EXPIRES + 10)
    assert abs(absolute - (time.time() + MAX_RELATIVE_EXPIRES + 10)) < 5
    server = require_suite_memcached()
    store = MemcachedBackend.from_url(server.url(), _prefixed(
        uuid.uuid4().hex, result_expires=60 * 86400))
    try:
        store.store([_done("long-lived")])
        assert store.get("long-lived").status == states.SUCCESS  # not expired at once
    finally:
        store.close()


def test_racing_writers_never_overwrite_a_success() -> None:
    """Threads keep writing STARTED over tasks while others write their SUCCESS: every task
    ends SUCCESS (a read-then-write store loses some of them to the race)."""
    server = require_suite_memcached()
    options = _prefixed(uuid.uuid4().hex)
    stores = [MemcachedBackend.from_url(server.url(), options) for _ in range(4)]
    ids = [f"race-{n}" for n in range(150)]
    stop = threading.Event()

    def keep_starting(store: MemcachedBackend) -> None:
        while not stop.is_set():
            for tid in ids:
                store.store([ResultMeta(tid, states.STARTED)])

    writers = [threading.Thread(target=keep_starting, args=(s,)) for s in stores[1:]]
    try:
        for thread in writers:
            thread.start()
        for tid in ids:
            stores[0].store([_done(tid)])
        stop.set()
        for thread in writers:
            thread.join()
        assert {meta.status for meta in stores[0].get_many(ids)} == {states.SUCCESS}
    finally:
        stop.set()
        for store in stores:
            store.close()


def test_an_unreachable_server_raises_a_retryable_error_naming_it() -> None:
    down = MemcachedServer()  # never started: nothing listens on its port
    store = MemcachedBackend.from_url(down.url(), BackendOptions(
        cache_backend_options={"connect_timeout": 0.5}))
    try:
        for call in (lambda: store.get("x"), lambda: store.store([_done("x")]),
                     lambda: store.chord_join().set_size("g", 2)):
            with pytest.raises(OperationalError, match=down.address):
                call()
    finally:
        store.close()


def test_a_server_started_later_is_used_once_it_is_up() -> None:
    server = MemcachedServer()
    store = MemcachedBackend.from_url(server.url(), BackendOptions(
        cache_backend_options={"connect_timeout": 0.5}))
    try:
        with pytest.raises(OperationalError):
            store.store([_done("later")])
        server.start()
        store.store([_done("later")])
        assert store.get("later").status == states.SUCCESS
    finally:
        store.close()
        server.stop()


def _celery_app(url: str, prefix: str, **conf: Any) -> Any:
    import celery

    app = celery.Celery(f"memcached-interop-{prefix}", backend=url)
    app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    app.conf.update(conf)
    return app


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_real_celery_reads_celeriac_records_and_the_other_way_round(serializer: str) -> None:
    server = require_suite_memcached()
    prefix = f"interop-{uuid.uuid4().hex[:8]}:"
    store = MemcachedBackend.from_url(server.url(), _prefixed(
        prefix, result_serializer=serializer, result_accept_content=["json", "msgpack"]))
    app = _celery_app(server.url(), prefix, result_serializer=serializer,
                      result_accept_content=["json", "msgpack"])
    try:
        store.store([_done("from-celeriac", {"n": [1, 2]})])
        assert app.AsyncResult("from-celeriac").get(timeout=5) == {"n": [1, 2]}
        app.backend.store_result("from-celery", [3, "x"], states.SUCCESS)
        assert store.get("from-celery").result == [3, "x"]
        assert store.get("from-celery").status == states.SUCCESS
    finally:
        store.close()
        app.backend.client.close()  # app.close() leaves Celery's memcached client open
        app.close()


def test_real_celery_restores_a_group_celeriac_saved() -> None:
    from celery.result import GroupResult as CeleryGroupResult

    server = require_suite_memcached()
    prefix = f"interop-{uuid.uuid4().hex[:8]}:"
    store = MemcachedBackend.from_url(server.url(), _prefixed(prefix))
    app = _celery_app(server.url(), prefix)
    try:
        store.save_group("g1", (("g1", None), [(("a", None), None), (("b", None), None)]))
        restored = CeleryGroupResult.restore("g1", app=app)
        assert [child.id for child in restored.results] == ["a", "b"]
    finally:
        store.close()
        app.backend.client.close()  # app.close() leaves Celery's memcached client open
        app.close()
