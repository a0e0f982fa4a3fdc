"""SQL result store entries for the contract suite (``tests/contract/conftest.py`` registers them).

One throw-away database per server and test process (``tests/databases.py``), dropped at exit;
each test's ``namespace`` names its own tables through ``database_table_names``, so stores of
one test share records and tests (and xdist workers) never see each other's rows. SQLite
gets a file in the test's ``tmp_path``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from celeriac.backends.sql.store import SqlBackend
from tests.databases import Database, mariadb_database, postgres_database

_DATABASES: dict[str, Database] = {}
_EXIT = contextlib.ExitStack()
atexit.register(_EXIT.close)


def _database(kind: str, make: Callable[[str], contextlib.AbstractContextManager[Database]]
              ) -> Database:
    if kind not in _DATABASES:
        _DATABASES[kind] = _EXIT.enter_context(make("contract"))
    return _DATABASES[kind]


def _options(env: Any) -> Any:
    """``env.backend_options`` with the namespace's own tables."""
    options = env.backend_options
    prefix = env.namespace.replace("-", "_")
    names = {"task": f"{prefix}_task", "group": f"{prefix}_group", "chord": f"{prefix}_chord"}
    return dataclasses.replace(options, database=dataclasses.replace(
        options.database, table_names=names))


def postgres_backend(env: Any) -> SqlBackend:
    return SqlBackend.from_url("db+" + _database("postgresql", postgres_database).url,
                               _options(env))


def mariadb_backend(env: Any) -> SqlBackend:
    return SqlBackend.from_url("db+" + _database("mysql", mariadb_database).url,
                               _options(env))


def sqlite_backend(env: Any) -> SqlBackend:
    return SqlBackend.from_url(f"db+sqlite:///{env.tmp_path / 'sql-results.db'}", _options(env))


#: kind -> (store class, factory, runs the whole contract).
BACKEND_FACTORIES: dict[str, tuple[type[Any], Callable[[Any], Any], bool]] = {
    "sql-postgresql": (SqlBackend, postgres_backend, True),
    "sql-mariadb": (SqlBackend, mariadb_backend, True),
    "sql-sqlite": (SqlBackend, sqlite_backend, True),
}


__all__ = ["BACKEND_FACTORIES", "mariadb_backend", "postgres_backend", "sqlite_backend"]
