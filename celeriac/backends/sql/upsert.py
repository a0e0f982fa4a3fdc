"""Insert a row unless its key exists, in one statement on every dialect we know.

PostgreSQL and SQLite: ``INSERT … ON CONFLICT DO NOTHING RETURNING``; MySQL/MariaDB:
``INSERT IGNORE``.
A statement that finds the key taken by a transaction still running waits for it, so two
writers never both believe they inserted. Other dialects insert in a savepoint and take an
``IntegrityError`` for "already there".
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite


def insert_if_absent(conn: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` into ``table`` unless its unique key is taken; True if inserted."""
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        # RETURNING tells inserted from skipped; psycopg's rowcount does not, here.
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        statement = (dialect_insert(table).values(row).on_conflict_do_nothing()
                     .returning(sa.literal(1)))
        return conn.execute(statement).first() is not None
    if name in ("mysql", "mariadb"):
        return bool(conn.execute(mysql.insert(table).values(row).prefix_with("IGNORE")).rowcount)
    else:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(table).values(row))
        except sa_exc.IntegrityError:
            return False
        return True




def insert_many_if_absent(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                          key: str) -> set[Any] | None:
    """Insert ``rows`` (distinct ``key`` values) in one statement, skipping taken keys; the
    keys inserted. None where the dialect cannot say which (the caller goes row by row)."""
    name = conn.dialect.name
    if not rows or name not in ("postgresql", "sqlite"):
        return None
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    statement = (dialect_insert(table).values(rows).on_conflict_do_nothing()
                 .returning(table.c[key]))
    return set(conn.execute(statement).scalars())


__all__ = ["insert_if_absent", "insert_many_if_absent"]
