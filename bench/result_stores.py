"""celeriac's result stores against Celery's own backends, on the same servers, in one run.

    .venv/bin/python -m bench.result_stores [--records 2000] [--stores sql-postgresql,...]

For each store both systems write ``--records`` SUCCESS records one at a time (what a worker
does per task), then read each back one at a time (what ``AsyncResult.get`` does), through
their store objects: celeriac's ``backend.store([meta])`` / ``backend.get(id)``, Celery's
``backend.store_result(id, value, state)`` / ``backend.get_task_meta(id)``. Servers: a fresh
PostgreSQL and MariaDB database each (dropped after), a private memcached, a temporary
folder. Ratios are celeriac / Celery, so > 1 means celeriac is faster.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.side_by_side import Comparison
from celeriac import Celery
from celeriac.protocol.result_meta import ResultMeta
from tests.databases import mariadb_database, postgres_database
from tests.memcached_server import MemcachedServer

StoreUrls = Callable[[], contextlib.AbstractContextManager[tuple[str, str]]]


@contextlib.contextmanager
def _sql(database: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    with database("bench") as db:
        yield f"db+{db.url}", f"db+{db.url}"


@contextlib.contextmanager
def _memcached() -> Iterator[tuple[str, str]]:
    server = MemcachedServer()
    server.start()
    try:
        url = f"cache+memcached://{server.address}/"
        yield url, url
    finally:
        server.stop()


@contextlib.contextmanager
def _files() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-files-") as folder:
        ours, theirs = Path(folder, "celeriac"), Path(folder, "celery")
        ours.mkdir()
        theirs.mkdir()
        yield f"file://{ours}", f"file://{theirs}"


STORES: dict[str, StoreUrls] = {
    "sql-postgresql": lambda: _sql(postgres_database),
    "sql-mariadb": lambda: _sql(mariadb_database),
    "memcached": _memcached,
    "files": _files,
}


def _rates(store: Callable[[str], None], read: Callable[[str], Any],
           count: int) -> tuple[float, float]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    started = time.perf_counter()
    for task_id in ids:
        store(task_id)
    stored = time.perf_counter() - started
    started = time.perf_counter()
    for task_id in ids:
        read(task_id)
    return count / stored, count / (time.perf_counter() - started)


def measure(name: str, count: int, comparison: Comparison) -> None:
    import celery

    with STORES[name]() as (ours_url, theirs_url):
        ours = Celery("bench_ours", broker="memory://", backend=ours_url)
        theirs = celery.Celery("bench_theirs", broker="memory://", backend=theirs_url)
        try:
            ours_backend, theirs_backend = ours.backend, theirs.backend
            our_rates = _rates(
                lambda tid: ours_backend.store([ResultMeta(tid, "SUCCESS", {"n": 1})]),
                ours_backend.get, count)
            their_rates = _rates(
                lambda tid: theirs_backend.store_result(tid, {"n": 1}, "SUCCESS"),
                theirs_backend.get_task_meta, count)
        finally:
            ours.close()
            with contextlib.suppress(Exception):
                theirs_backend.close()  # SQLAlchemy: dispose its engine before the drop
    comparison.row(f"{name}: store one record (records/s)", our_rates[0], their_rates[0])
    comparison.row(f"{name}: read one record (reads/s)", our_rates[1], their_rates[1])


def main() -> None:
    import celery

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--stores", default=",".join(STORES),
                        help=f"comma-separated, of: {', '.join(STORES)}")
    args = parser.parse_args()
    comparison = Comparison()
    for name in args.stores.split(","):
        measure(name, args.records, comparison)
    comparison.table(f"Result stores: celeriac vs Celery {celery.__version__}, one process")


if __name__ == "__main__":
    main()
