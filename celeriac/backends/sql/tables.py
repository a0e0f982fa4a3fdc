"""Celery's result tables, column for column (``celery/backends/database/models.py``, 5.7),
and celeriac's chord counter tables beside them.

``database_table_names`` and ``database_table_schemas`` rename or place them under the keys
Celery reads (``'task'``, ``'group'``) and ``'chord'`` for celeriac's chord tables (the parts
table is the chord table's name + ``_parts``). With ``result_extended`` the task table has
Celery's ``TaskExtended`` columns too. ``create`` makes what is missing: tables, sequences
and, in a table Celery created without them, the nullable columns this version reads (as
Celery's own ``SessionManager._migrate_missing_columns`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

logger = logging.getLogger(__name__)

DEFAULT_NAMES: Final = {"task": "celery_taskmeta", "group": "celery_tasksetmeta",
                        "chord": "celeriac_chord"}

#: Celery's id column: BIGINT on SQL Server, INTEGER elsewhere.
_ID_TYPE: Final = sa.Integer().with_variant(sa.BigInteger, "mssql")

#: The ``TaskExtended`` columns that hold request fields as they are (args/kwargs are encoded).
EXTENDED_PLAIN: Final = ("name", "worker", "retries", "queue")


@dataclass(frozen=True)
class Tables:
    """The tables of one store (one ``MetaData``, so names never clash between stores)."""

    metadata: sa.MetaData
    task: sa.Table
    group: sa.Table
    chord: sa.Table
    chord_parts: sa.Table
    extended: bool


def define(names: Mapping[str, str] | None = None, schemas: Mapping[str, str] | None = None,
           *, extended: bool = False) -> Tables:
    """The tables named by ``database_table_names``/``database_table_schemas``."""
    names = {**DEFAULT_NAMES, **(names or {})}
    schemas = dict(schemas or {})
    metadata = sa.MetaData()
    task_schema = schemas.get("task")
    task_columns: list[sa.Column[object]] = [
        sa.Column("id", _ID_TYPE, sa.Sequence("task_id_sequence", schema=task_schema),
                  primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(155), unique=True),
        sa.Column("status", sa.String(50)),
        sa.Column("result", sa.LargeBinary, nullable=True),
        sa.Column("date_done", sa.DateTime, nullable=True, index=True),
        sa.Column("traceback", sa.Text, nullable=True),
        sa.Column("children", sa.LargeBinary, nullable=True),
    ]
    if extended:
        task_columns += [
            sa.Column("name", sa.String(155), nullable=True),
            sa.Column("args", sa.LargeBinary, nullable=True),
            sa.Column("kwargs", sa.LargeBinary, nullable=True),
            sa.Column("worker", sa.String(155), nullable=True),
            sa.Column("retries", sa.Integer, nullable=True),
            sa.Column("queue", sa.String(155), nullable=True),
            sa.Column("stamps", sa.LargeBinary, nullable=True),
        ]
    task = sa.Table(names["task"], metadata, *task_columns, schema=task_schema,
                    sqlite_autoincrement=True)
    group_schema = schemas.get("group")
    group = sa.Table(
        names["group"], metadata,
        sa.Column("id", _ID_TYPE, sa.Sequence("taskset_id_sequence", schema=group_schema),
                  autoincrement=True, primary_key=True),
        sa.Column("taskset_id", sa.String(155), unique=True),
        sa.Column("result", sa.LargeBinary, nullable=True),
        sa.Column("date_done", sa.DateTime, nullable=True, index=True),
        schema=group_schema, sqlite_autoincrement=True)
    chord_schema = schemas.get("chord")
    chord = sa.Table(
        names["chord"], metadata,
        sa.Column("group_id", sa.String(155), primary_key=True),
        sa.Column("size", sa.Integer, nullable=True),
        sa.Column("joined", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("date_created", sa.DateTime, nullable=False, index=True),
        schema=chord_schema)
    chord_parts = sa.Table(
        names["chord"] + "_parts", metadata,
        sa.Column("group_id", sa.String(155), primary_key=True),
        sa.Column("member", sa.String(255), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("task_id", sa.String(155), nullable=False),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("result", sa.LargeBinary, nullable=True),
        schema=chord_schema)
    return Tables(metadata, task, group, chord, chord_parts, extended)


def create(engine: sa.Engine, tables: Tables) -> None:
    """Create missing tables and sequences, then missing nullable columns (Celery's way)."""
    tables.metadata.create_all(engine, checkfirst=True)
    inspector = sa.inspect(engine)
    preparer = engine.dialect.identifier_preparer
    for table in (tables.task, tables.group):
        existing = {column["name"] for column in
                    inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in existing or not column.nullable:
                continue
            statement = (f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN "
                         f"{preparer.quote(column.name)} {column.type.compile(engine.dialect)}")
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
            logger.info("Added the missing column %s to %s", column.name, table.name)


__all__ = ["DEFAULT_NAMES", "EXTENDED_PLAIN", "Tables", "create", "define"]
