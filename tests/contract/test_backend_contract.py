"""The contract every result store keeps (``celeriac/backends/base.py``), run per store; plus
the resolver that turns a ``result_backend`` URL into a store.

Tests marked ``capability(STORE_IF_NOT_FINAL)`` run on every store that declares it
(``rpc://`` too); chords and groups are in ``test_store_capabilities``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from celeriac import states
from celeriac.backends import resolve_backend
from celeriac.backends.base import (
    TASK_KEY_PREFIX,
    KeyValueBackend,
    ResultBackend,
)
from celeriac.backends.capabilities import Capability
from celeriac.backends.disabled import DisabledBackend
from celeriac.backends.memory import MemoryBackend
from celeriac.backends.record_codec import COMPRESSED_MAGIC, content_type_of
from celeriac.backends.sql.store import SqlBackend
from celeriac.backends.sqlite import SqliteBackend
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ContentDisallowed, ImproperlyConfigured, TimeoutError
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.serialization.registry import BUILTIN_CONTENT_TYPES

DEADLINE = 10.0
IF_NOT_FINAL = pytest.mark.capability(Capability.STORE_IF_NOT_FINAL)


def _done(task_id: str, status: str = states.SUCCESS, result: object = 42) -> ResultMeta:
    return ResultMeta(task_id, status, result, date_done=now_iso())


def kept(backend: ResultBackend, meta: ResultMeta) -> ResultMeta:
    """What ``meta`` reads back as: itself, or what a store with fixed columns keeps of it
    (Celery's SQL tables have no group_id/parent_id; MariaDB keeps whole seconds)."""
    keep = getattr(backend, "kept", None)
    return meta if keep is None else keep(meta)


def test_unknown_task_is_pending(backend: ResultBackend) -> None:
    meta = backend.get("nobody")
    assert (meta.task_id, meta.status, meta.result) == ("nobody", states.PENDING, None)


def test_stored_record_reads_back(backend: ResultBackend) -> None:
    meta = ResultMeta(
        "t1",
        states.FAILURE,
        {"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"},
        traceback="Traceback ...",
        children=[],
        date_done=now_iso(),
        group_id="g1",
        parent_id="p1",
    )
    backend.store([meta])
    assert backend.get("t1") == kept(backend, meta)


def test_get_many_keeps_order_and_fills_pending(backend: ResultBackend) -> None:
    backend.store([_done("a", result=1), _done("c", result=3)])
    metas = backend.get_many(["c", "b", "a"])
    assert [(m.task_id, m.status, m.result) for m in metas] == [
        ("c", states.SUCCESS, 3),
        ("b", states.PENDING, None),
        ("a", states.SUCCESS, 1),
    ]


def test_empty_store_and_get_many(backend: ResultBackend) -> None:
    backend.store([])
    assert backend.get_many([]) == []


@IF_NOT_FINAL
def test_success_is_never_overwritten(backend: ResultBackend) -> None:
    backend.store([_done("t", result="first")])
    backend.store([ResultMeta("t", states.STARTED)])
    backend.store([_done("t", states.FAILURE, result=None)])
    meta = backend.get("t")
    assert (meta.status, meta.result) == (states.SUCCESS, "first")


@IF_NOT_FINAL
def test_a_result_that_says_success_does_not_block_the_real_success(
    backend: ResultBackend,
) -> None:
    """Issue 11, defect 6: the guard decides on the parsed status, not on a substring."""
    backend.store([ResultMeta("t", "RUN", "SUCCESS")])  # update_state(state="RUN", meta=...)
    backend.store([ResultMeta("u", "PROGRESS", {"phase": "SUCCESS", "pad": "x" * 100})])
    backend.store([_done("t", result=1), _done("u", result=2)])
    assert [(m.status, m.result) for m in backend.get_many(["t", "u"])] == [
        (states.SUCCESS, 1), (states.SUCCESS, 2)]


@IF_NOT_FINAL
def test_a_success_is_kept_against_a_later_record_in_the_same_batch(
        backend: ResultBackend) -> None:
    """A retried task's new attempt and its old attempt's RETRY can finish in one batch,
    the SUCCESS first: judged against the store before the batch, the RETRY won."""
    backend.store([ResultMeta("t", states.RETRY)])
    backend.store([_done("t", result="final"), ResultMeta("t", states.RETRY)])
    meta = backend.get("t")
    assert (meta.status, meta.result) == (states.SUCCESS, "final")


@IF_NOT_FINAL
@pytest.mark.parametrize("finished", [states.FAILURE, states.REVOKED])
def test_a_stale_retry_never_hides_a_finished_state(backend: ResultBackend,
                                                    finished: str) -> None:
    """A RETRY means a newer attempt was sent; a finished record is that attempt's, so the
    old attempt's RETRY, stored late, must not make the task look unfinished forever."""
    backend.store([_done("t", finished, result=None)])
    backend.store([ResultMeta("t", states.RETRY)])
    backend.store([_done("u", finished, result=None), ResultMeta("u", states.RETRY)])
    assert [m.status for m in backend.get_many(["t", "u"])] == [finished, finished]
    backend.store([ResultMeta("t", states.STARTED), _done("t", result=1)])  # run again by id
    assert backend.get("t").status == states.SUCCESS


@IF_NOT_FINAL
def test_other_states_are_overwritten(backend: ResultBackend) -> None:
    backend.store([ResultMeta("t", states.STARTED)])
    backend.store([ResultMeta("t", states.RETRY)])
    backend.store([_done("t", result=7)])
    assert backend.get("t").result == 7


def test_forget_deletes(backend: ResultBackend) -> None:
    backend.store([_done("t")])
    backend.forget("t")
    assert backend.get("t").status == states.PENDING


def test_records_expire(make_backend: Callable[..., ResultBackend]) -> None:
    backend = make_backend(expires=0.2)
    backend.store([_done("t")])
    deadline = time.monotonic() + DEADLINE
    while backend.get("t").status != states.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.get("t").status == states.PENDING
    assert backend.get_many(["t"])[0].status == states.PENDING


def test_records_without_expiry_stay(make_backend: Callable[..., ResultBackend]) -> None:
    backend = make_backend(expires=None)
    backend.store([_done("t")])
    assert backend.get("t").status == states.SUCCESS


def test_stores_on_one_namespace_share_records(make_backend: Callable[..., ResultBackend]) -> None:
    writer, reader = make_backend(), make_backend()
    writer.store([_done("shared")])
    assert reader.get("shared").status == states.SUCCESS


def test_wait_returns_a_ready_record(backend: ResultBackend) -> None:
    backend.store([_done("t", result="x")])
    assert backend.wait("t", timeout=DEADLINE).result == "x"


def test_wait_wakes_for_a_record_written_by_another_thread(
    make_backend: Callable[..., ResultBackend],
) -> None:
    writer, reader = make_backend(), make_backend()
    writer.store([ResultMeta("t", states.STARTED)])
    thread = threading.Thread(target=lambda: writer.store([_done("t", result="late")]))
    started: list[ResultMeta] = []

    def waiter() -> None:
        started.append(reader.wait("t", timeout=DEADLINE))

    wait_thread = threading.Thread(target=waiter)
    wait_thread.start()
    thread.start()
    thread.join(DEADLINE)
    wait_thread.join(DEADLINE + 5)
    assert [m.result for m in started] == ["late"]


def test_wait_times_out(backend: ResultBackend) -> None:
    backend.store([ResultMeta("t", states.STARTED)])
    with pytest.raises(TimeoutError):
        backend.wait("t", timeout=0.2)
    with pytest.raises(TimeoutError):
        backend.wait("missing", timeout=0)


# -- resolution --------------------------------------------------------------------------


def test_resolver_builds_sqlite_and_memory_stores(tmp_path: Path) -> None:
    options = BackendOptions()
    sqlite = resolve_backend(f"sqlite:///{tmp_path}/r.db", options)
    assert isinstance(sqlite, SqliteBackend)
    assert sqlite.path == str(tmp_path / "r.db")
    # db+ is Celery's SQL store on Celery's tables, as in Celery.
    sql = resolve_backend(f"db+sqlite:///{tmp_path}/s.db", options)
    assert isinstance(sql, SqlBackend)
    sql.close()
    assert isinstance(resolve_backend("cache+memory://", options), MemoryBackend)
    assert isinstance(resolve_backend("memory://x", options), MemoryBackend)


def test_no_backend_refuses_reads_with_advice() -> None:
    backend = resolve_backend(None, BackendOptions())
    assert isinstance(backend, DisabledBackend)
    backend.store([_done("t")])
    with pytest.raises(ImproperlyConfigured, match="No result backend is configured"):
        backend.get("t")
    with pytest.raises(ImproperlyConfigured, match="result_backend"):
        backend.wait("t", timeout=1)
    assert isinstance(resolve_backend("disabled://", BackendOptions()), DisabledBackend)


def test_unknown_scheme_suggests_a_known_one() -> None:
    with pytest.raises(ImproperlyConfigured, match="Did you mean 'redis'"):
        resolve_backend("rediz://localhost", BackendOptions())


def test_memory_namespaces_are_separate() -> None:
    one = resolve_backend("cache+memory://contract-ns-one", BackendOptions())
    two = resolve_backend("cache+memory://contract-ns-two", BackendOptions())
    one.store([_done("t")])
    assert two.get("t").status == states.PENDING
    again = resolve_backend("cache+memory://contract-ns-one", BackendOptions())
    assert again.get("t").status == states.SUCCESS


def test_sqlite_urls_follow_sqlalchemy_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SqliteBackend.from_url("sqlite:///sub.db", BackendOptions())
    absolute = SqliteBackend.from_url(f"sqlite:///{tmp_path}/abs.db", BackendOptions())
    assert relative.path == str(tmp_path / "sub.db")
    assert absolute.path == str(tmp_path / "abs.db")
    with pytest.raises(ImproperlyConfigured, match="memory"):
        SqliteBackend.from_url("sqlite:///:memory:", BackendOptions())
    with pytest.raises(ImproperlyConfigured, match="three slashes"):
        SqliteBackend.from_url("sqlite://host/x.db", BackendOptions())


def test_sqlite_store_without_path_shares_the_sqlite_broker_file(tmp_path: Path) -> None:
    broker_url = f"sqlite:///{tmp_path}/broker.db"
    backend = resolve_backend("sqlite://", BackendOptions(), broker_url=broker_url)
    assert isinstance(backend, SqliteBackend)
    assert backend.path == str(tmp_path / "broker.db")
    with pytest.raises(ImproperlyConfigured, match="in-memory SQLite"):
        resolve_backend("db+sqlite://", BackendOptions(), broker_url=broker_url)


# -- result_serializer, result_compression, result_accept_content --------------------------------

#: (result_serializer, result_compression, accept) a store is built with.
ENCODINGS = [
    ("json", None, ("json",)),
    ("msgpack", None, ("json",)),
    ("yaml", None, ("json",)),
    ("pickle", None, ("json", "pickle")),
    ("json", "gzip", ("json",)),
    ("msgpack", "bzip2", ("json", "msgpack")),
    ("yaml", "lzma", ("yaml",)),
]


def _rich(task_id: str, status: str = states.SUCCESS) -> ResultMeta:
    return ResultMeta(task_id, status, {"n": [1, 2.5, "x", None, True]}, traceback=None,
                      children=[], date_done=now_iso(), group_id="g", parent_id="p")


@pytest.mark.parametrize(("serializer", "compression", "accept"), ENCODINGS)
def test_records_are_stored_in_the_result_serializer_and_read_back(
        make_backend: Callable[..., ResultBackend], serializer: str, compression: str | None,
        accept: tuple[str, ...]) -> None:
    writer = make_backend(serializer=serializer, compression=compression, accept=accept)
    record = _rich("t")
    writer.store([record])
    record = kept(writer, record)
    assert writer.get("t") == record
    assert writer.get_many(["t"]) == [record]
    assert writer.wait("t", timeout=DEADLINE) == record
    # The bytes of the record (key-value stores) or of its result column (SQL stores);
    # django-db keeps columns of its own (test_django_results_stores).
    raw_result = getattr(writer, "raw_result", None)
    if isinstance(writer, KeyValueBackend) or raw_result is not None:
        raw = (writer._kv_get(TASK_KEY_PREFIX + "t") if isinstance(writer, KeyValueBackend)
               else raw_result("t") if raw_result is not None else None)
        assert raw is not None
        if compression:
            assert raw.startswith(COMPRESSED_MAGIC)
        else:
            assert content_type_of(raw) == BUILTIN_CONTENT_TYPES[serializer]
    # A reader configured with plain JSON but accepting the writer's serializer reads it too:
    # records are decoded by what they are, not by the reader's result_serializer.
    reader = make_backend(accept=(*accept, serializer))
    assert reader.get("t") == record


@IF_NOT_FINAL
@pytest.mark.parametrize(("serializer", "compression", "accept"), ENCODINGS)
def test_success_is_never_overwritten_in_any_serializer(
        make_backend: Callable[..., ResultBackend], serializer: str, compression: str | None,
        accept: tuple[str, ...]) -> None:
    backend = make_backend(serializer=serializer, compression=compression, accept=accept)
    backend.store([_rich("t")])
    backend.store([_rich("t", states.FAILURE)])
    assert backend.get("t").status == states.SUCCESS
    backend.store([_rich("u"), _rich("u", states.RETRY)])  # in one batch too
    backend.store([_rich("v", states.FAILURE)])
    backend.store([_rich("v", states.RETRY)])  # a stale attempt's RETRY
    assert [m.status for m in backend.get_many(["u", "v"])] == [states.SUCCESS, states.FAILURE]


def test_a_record_in_a_serializer_the_reader_does_not_accept_is_refused(
        make_backend: Callable[..., ResultBackend]) -> None:
    """A pickle that would build an object (here a ``Fraction``) is never loaded by a reader
    that does not accept pickle (SQL stores read plain-value pickles: ``safe_pickle``)."""
    record = ResultMeta("t", states.SUCCESS, {"ratio": Fraction(1, 3)}, date_done=now_iso())
    make_backend(serializer="pickle", accept=("json", "pickle")).store([record])
    with pytest.raises(ContentDisallowed, match="pickle"):
        make_backend().get("t")


def test_pickle_results_need_pickle_in_the_accept_list(
        make_backend: Callable[..., ResultBackend]) -> None:
    with pytest.raises(ImproperlyConfigured, match="pickle"):
        make_backend(serializer="pickle")


def test_an_unknown_compression_method_fails_when_the_store_is_built(
        make_backend: Callable[..., ResultBackend]) -> None:
    with pytest.raises(ImproperlyConfigured, match="compression"):
        make_backend(compression="nope")
