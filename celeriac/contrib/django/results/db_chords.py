"""The ``django-db`` chord counter: one ``ChordCounter`` row per chord, counted under a row lock.

``set_size`` (the client, before sending the header) creates the row with ``count`` = the
header size. Each ``add_parts`` locks the row (``SELECT … FOR UPDATE`` in a transaction),
records the finished parts it has not seen (a redelivered task counts once), and sets
``count`` to the number still missing, keeping that column's meaning in
``django-celery-results``. The caller whose parts bring ``count`` to 0 deletes the row and
gets the header's outcomes in header order: exactly one caller claims a chord, and late
duplicates find no row and are ignored.

``sub_tasks`` holds celeriac's join state (``{"size": n, "parts": {...}}`` in JSON), not the
list of result tuples a Celery client writes there: a chord must be sent and joined by
celeriac alone (a Celery-written counter is left alone, with an error in the log).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Final

from django.db import router, transaction

from celeriac.backends.chords import ChordPart, ClaimedChord
from celeriac.contrib.django.results.connections import on_connection
from celeriac.serialization.json_codec import json_dumps, json_loads

logger = logging.getLogger(__name__)

#: Where a part without a header index sorts: after every indexed one.
_LAST: Final = 1e308


class DjangoChordJoin:
    """Chord counters in the ``ChordCounter`` table (see the module docstring)."""

    #: A part with no row is taken for a late duplicate of a fired chord and dropped.
    counts_unsized_parts = False

    def __init__(self) -> None:
        from celeriac.contrib.django.results.models import ChordCounter

        self._model: Any = ChordCounter
        self._using = str(router.db_for_write(ChordCounter))

    def set_size(self, group_id: str, size: int) -> None:
        state = json_dumps({"size": size, "parts": {}}).decode()
        on_connection(self._using, "size a chord", lambda: self._model.objects.using(
            self._using).update_or_create(group_id=group_id,
                                          defaults={"count": size, "sub_tasks": state}))

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        by_group: dict[str, list[ChordPart]] = {}
        for part in parts:
            by_group.setdefault(part.group_id, []).append(part)
        claimed: list[ClaimedChord] = []
        for group_id, group_parts in by_group.items():
            chord = on_connection(self._using, "count a chord's parts",
                                  functools.partial(self._add, group_id, group_parts))
            if chord is not None:
                claimed.append(chord)
        return claimed

    def _add(self, group_id: str, parts: list[ChordPart]) -> ClaimedChord | None:
        with transaction.atomic(using=self._using):
            row = (self._model.objects.using(self._using).select_for_update()
                   .filter(group_id=group_id).first())
            if row is None:  # fired already (a late duplicate), or never sized
                return None
            state = json_loads(row.sub_tasks)
            if not isinstance(state, dict) or "parts" not in state:
                logger.error("Chord %s was sent by a Celery client (django-celery-results "
                             "counter); celeriac workers cannot join it", group_id)
                return None
            seen: dict[str, list[Any]] = state["parts"]
            for part in parts:
                member = f"{part.task_id}:{part.group_index}"
                index = _LAST if part.group_index is None else part.group_index
                seen.setdefault(member, [index, len(seen), part.task_id, part.state,
                                         part.result])
            missing = int(state["size"]) - len(seen)
            if missing > 0:
                row.count = missing
                row.sub_tasks = json_dumps(state).decode()
                row.save(update_fields=["count", "sub_tasks"])
                return None
            row.delete()
        ordered = sorted(seen.values(), key=lambda item: (item[0], item[1]))
        return ClaimedChord(parts[-1], [(str(t), str(s), r) for _, _, t, s, r in ordered])

    def grow(self, group_id: str, count: int) -> None:
        """``add_to_chord``: the row's size and ``count`` grow under its lock.

        Raises:
            NotImplementedError: the chord has no row (not sized yet, or already fired).
        """
        on_connection(self._using, "grow a chord",
                      functools.partial(self._grow, group_id, count))

    def _grow(self, group_id: str, count: int) -> None:
        with transaction.atomic(using=self._using):
            row = (self._model.objects.using(self._using).select_for_update()
                   .filter(group_id=group_id).first())
            state = json_loads(row.sub_tasks) if row is not None else None
            if not isinstance(state, dict) or "size" not in state:
                raise NotImplementedError(
                    f"Cannot add to chord {group_id}: the django-db store grows only a chord "
                    "sized by a celeriac client and not yet fired")
            state["size"] = int(state["size"]) + count
            row.count = int(row.count) + count
            row.sub_tasks = json_dumps(state).decode()
            row.save(update_fields=["count", "sub_tasks"])

    def finish(self, claimed: ClaimedChord) -> None:
        """Nothing left: the claiming transaction deleted the row."""

    def abandon(self, claimed: ClaimedChord) -> None:
        """Nothing left: the claiming transaction deleted the row."""


__all__ = ["DjangoChordJoin"]
