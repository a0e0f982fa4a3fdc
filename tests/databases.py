"""Throw-away SQL databases on the machine's PostgreSQL and MariaDB servers.

Each test (or module) that needs a database gets its own, named ``celeriac_<tag>_<random>``,
created here and dropped afterwards, so tests never see each other's tables and never touch
the shared ``test`` database others use. Unreachable server: skipped, or failed under ``CI``
(``tests.helpers.require_service``).

The admin connections use the drivers of the test extra (psycopg 3, PyMySQL) directly, so this
module does not depend on the code under test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from tests.helpers import require_service

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MARIADB_HOST, MARIADB_PORT, MARIADB_USER = "127.0.0.1", 3306, "root"


@dataclass(frozen=True)
class Database:
    """A created database: its name and the SQLAlchemy URLs that reach it."""

    kind: str
    name: str

    @property
    def url(self) -> str:
        """SQLAlchemy's URL: ``postgresql://…`` (psycopg 3, SQLAlchemy 2.1's default) or ``mysql+pymysql://…``."""
        if self.kind == "postgresql":
            return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"
        return f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{self.name}"

    @property
    def django(self) -> dict[str, object]:
        """Django's ``DATABASES['default']`` entry for this database."""
        if self.kind == "postgresql":
            return {"ENGINE": "django.db.backends.postgresql", "NAME": self.name,
                    "USER": PG_USER, "HOST": PG_HOST, "PORT": str(PG_PORT)}
        return {"ENGINE": "django.db.backends.mysql", "NAME": self.name,
                "USER": MARIADB_USER, "HOST": MARIADB_HOST, "PORT": str(MARIADB_PORT)}


def _new_name(tag: str) -> str:
    return f"celeriac_{tag}_{uuid.uuid4().hex[:10]}".lower()


@contextlib.contextmanager
def postgres_database(tag: str = "test") -> Iterator[Database]:
    """A new PostgreSQL database, dropped (its connections ended first) on exit."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = _new_name(tag)
    admin = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                            autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield Database("postgresql", name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def mariadb_database(tag: str = "test") -> Iterator[Database]:
    """A new MariaDB database, dropped on exit."""
    require_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    import pymysql

    name = _new_name(tag)
    admin = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER,
                            autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        yield Database("mysql", name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


__all__ = ["Database", "mariadb_database", "postgres_database"]
