"""Chord joins in SQL: a counter row per chord, moved and claimed by single statements.

``set_size`` writes the chord's row (``size``); each header part is inserted once into the
parts table (insert-if-absent on ``(group_id, member)``, so a redelivered part counts once),
and a new part bumps the row's ``joined`` with ``UPDATE … SET joined = joined + 1``: the row
lock that statement takes orders concurrent workers, so each sees the count its own part made.
``UPDATE … SET claimed = 1 WHERE claimed = 0 AND joined >= size`` then lets exactly one caller
win the complete chord (rowcount 1), in the same transaction. Nobody polls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from celeriac.backends.chords import ChordPart, ClaimedChord
from celeriac.backends.sql.engine import EngineHolder
from celeriac.backends.sql.tables import Tables
from celeriac.backends.sql.upsert import insert_if_absent
from celeriac.serialization.json_codec import json_dumps, json_loads

#: Where a part without a header index sorts: after every indexed one.
_LAST: Final = 2**62


def utcnow() -> datetime:
    """Naive UTC, as Celery's ``DateTime`` columns hold it."""
    return datetime.now(UTC).replace(tzinfo=None)


class SqlChordJoin:
    """The ``ChordJoin`` of the SQL store (see the module docstring)."""

    counts_unsized_parts = True

    def __init__(self, holder: EngineHolder, tables: Tables) -> None:
        self.holder = holder
        self.chord = tables.chord
        self.parts = tables.chord_parts

    def set_size(self, group_id: str, size: int) -> None:
        with self.holder.begin() as conn:
            row = {"group_id": group_id, "size": size, "joined": 0, "claimed": 0,
                   "date_created": utcnow()}
            if not insert_if_absent(conn, self.chord, row):
                conn.execute(sa.update(self.chord).where(self.chord.c.group_id == group_id)
                             .values(size=size, claimed=0))

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        if not parts:
            return []
        claimed: list[ClaimedChord] = []
        with self.holder.begin() as conn:
            for part in parts:
                if insert_if_absent(conn, self.parts, _part_row(part)):
                    self._count(conn, part.group_id)
            last = {part.group_id: part for part in parts}
            for group_id, part in last.items():
                c = self.chord.c
                won = conn.execute(
                    sa.update(self.chord).where(
                        c.group_id == group_id, c.claimed == 0, c.size.is_not(None),
                        c.joined >= c.size).values(claimed=1)).rowcount
                if won == 1:
                    claimed.append(ClaimedChord(part, self._results(conn, group_id)))
        return claimed

    def _count(self, conn: sa.Connection, group_id: str) -> None:
        """``joined + 1`` in one statement; a chord not sized yet gets its row here."""
        bump = (sa.update(self.chord).where(self.chord.c.group_id == group_id)
                .values(joined=self.chord.c.joined + 1))
        if conn.execute(bump).rowcount:
            return
        row = {"group_id": group_id, "size": None, "joined": 1, "claimed": 0,
               "date_created": utcnow()}
        if not insert_if_absent(conn, self.chord, row):  # sized meanwhile: count on it
            conn.execute(bump)

    def grow(self, group_id: str, count: int) -> None:
        """``add_to_chord``: ``joined - count``, so ``count`` more parts are needed to reach
        ``size``; ``set_size`` leaves ``joined`` alone, so growing before sizing holds too."""
        bump = (sa.update(self.chord).where(self.chord.c.group_id == group_id)
                .values(joined=self.chord.c.joined - count))
        with self.holder.begin() as conn:
            if conn.execute(bump).rowcount:
                return
            row = {"group_id": group_id, "size": None, "joined": -count, "claimed": 0,
                   "date_created": utcnow()}
            if not insert_if_absent(conn, self.chord, row):
                conn.execute(bump)

    def _results(self, conn: sa.Connection, group_id: str) -> list[tuple[str, str, Any]]:
        p = self.parts.c
        rows = conn.execute(sa.select(p.task_id, p.state, p.result)
                            .where(p.group_id == group_id).order_by(p.position, p.member))
        return [(str(tid), str(state), json_loads(bytes(result))) for tid, state, result in rows]

    def finish(self, claimed: ClaimedChord) -> None:
        with self.holder.begin() as conn:
            conn.execute(sa.delete(self.parts)
                         .where(self.parts.c.group_id == claimed.part.group_id))

    def abandon(self, claimed: ClaimedChord) -> None:
        """Forget the size too, so late copies of parts never complete it again."""
        with self.holder.begin() as conn:
            conn.execute(sa.update(self.chord)
                         .where(self.chord.c.group_id == claimed.part.group_id)
                         .values(size=None))
            conn.execute(sa.delete(self.parts)
                         .where(self.parts.c.group_id == claimed.part.group_id))

    def cleanup(self, conn: sa.Connection, older_than: datetime) -> None:
        """Drop chords (and their parts) created before ``older_than``."""
        old = sa.select(self.chord.c.group_id).where(self.chord.c.date_created < older_than)
        conn.execute(sa.delete(self.parts).where(
            self.parts.c.group_id.in_(old.scalar_subquery())))
        conn.execute(sa.delete(self.chord).where(self.chord.c.date_created < older_than))


def _part_row(part: ChordPart) -> dict[str, Any]:
    return {"group_id": part.group_id, "member": f"{part.task_id}:{part.group_index}",
            "position": _LAST if part.group_index is None else part.group_index,
            "task_id": part.task_id, "state": part.state, "result": json_dumps(part.result)}


__all__ = ["SqlChordJoin", "utcnow"]
