"""``RevokedRegistry``: the worker's set of revoked task ids, bounded and expiring.

Ids arrive three ways: the ``revoke`` broadcast (``add``), the durable store written by
``Control.revoke`` (``refresh``, called at start and on every heartbeat; it reloads only when
the store's version moved), and the ``--statedb`` file (``load_state`` at start,
``save_state`` at shutdown). Like Celery's LimitedSet it keeps at most ``maxlen`` ids (oldest
expiry dropped first) and forgets an id ``expires`` seconds after it was revoked.

The statedb file is JSON ``{"revoked": {task_id: expires_at}}``, not Celery's shelve format:
a Celery worker cannot read it, and does not need to.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator

from celeriac.control.revocations import (
    DEFAULT_EXPIRES,
    MAX_ENTRIES,
    STAMP_PREFIX,
    NullRevocationStore,
    RevocationStore,
)
from celeriac.worker.revoked_stamps import RevokedStamps

logger = logging.getLogger(__name__)


class RevokedRegistry:
    """Thread-safe: the control thread adds, the consumer thread asks ``task_id in registry``."""

    def __init__(self, store: RevocationStore | None = None, *, statedb: str | None = None,
                 maxlen: int = MAX_ENTRIES, expires: float = DEFAULT_EXPIRES) -> None:
        self.store: RevocationStore = store or NullRevocationStore()
        self.statedb = statedb
        self.maxlen = maxlen
        self.expires = expires
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()
        self._version: str | None = None
        #: values revoked by ``revoke_by_stamped_headers`` (memory only, as in Celery).
        self.stamps = RevokedStamps()
        #: whether some entry revokes a stamp (``revoked_stamps.stamp_entries``): only then
        #: does a stamped message cost a lookup per stamp value.
        self.has_stamp_entries = False

    # -- membership --------------------------------------------------------------------
    def add(self, task_ids: str | Iterable[str], expires: float | None = None) -> None:
        """Revoke ``task_ids`` here for ``expires`` s (default: the registry's window)."""
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        deadline = time.time() + (self.expires if expires is None else expires)
        with self._lock:
            for task_id in ids:
                self._ids[task_id] = max(deadline, self._ids.get(task_id, 0.0))
            self._note_stamps(ids)
            self._trim()

    def merge(self, entries: dict[str, float]) -> None:
        """Add ``{task_id: expires_at}`` entries (from a store or a peer)."""
        now = time.time()
        with self._lock:
            for task_id, deadline in entries.items():
                if deadline > now:
                    self._ids[task_id] = max(deadline, self._ids.get(task_id, 0.0))
            self._note_stamps(entries)
            self._trim()

    def _note_stamps(self, ids: Iterable[str]) -> None:
        if not self.has_stamp_entries:
            self.has_stamp_entries = any(i.startswith(STAMP_PREFIX) for i in ids)

    def __contains__(self, task_id: object) -> bool:
        if not isinstance(task_id, str):
            return False
        deadline = self._ids.get(task_id)
        return deadline is not None and deadline > time.time()

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def ids(self) -> list[str]:
        """The live revoked ids (what ``inspect revoked`` shows; stamp entries left out)."""
        self.purge()
        with self._lock:
            return [i for i in self._ids if not i.startswith(STAMP_PREFIX)]

    def as_timestamps(self) -> dict[str, float]:
        """``{task_id: revoked_at}``: the shape Celery's mingle ``hello`` reply carries."""
        with self._lock:
            return {task_id: deadline - self.expires for task_id, deadline in self._ids.items()}

    def purge(self) -> int:
        """Forget expired ids; returns how many."""
        now = time.time()
        with self._lock:
            gone = [task_id for task_id, deadline in self._ids.items() if deadline <= now]
            for task_id in gone:
                del self._ids[task_id]
        return len(gone)

    def _trim(self) -> None:
        extra = len(self._ids) - self.maxlen
        if extra > 0:
            for task_id, _ in heapq.nsmallest(extra, self._ids.items(), key=lambda kv: kv[1]):
                del self._ids[task_id]

    # -- durable store -------------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload from the durable store if its version moved; True when it did.

        Errors are logged, never raised: a broker hiccup must not stop the heartbeat.
        """
        try:
            version = self.store.version()
            if version == self._version:
                return False
            entries = self.store.load()
        except Exception as exc:
            logger.warning("Could not refresh revoked ids from the broker: %r", exc)
            return False
        self.merge(entries)
        self._version = version
        return True

    # -- --statedb -------------------------------------------------------------------------
    def load_state(self) -> int:
        """Read ids kept by ``save_state`` in ``statedb``; returns how many are still live."""
        if not self.statedb or not os.path.exists(self.statedb):
            return 0
        try:
            with open(self.statedb, encoding="utf-8") as handle:
                data = json.load(handle)
            entries = {str(k): float(v) for k, v in dict(data.get("revoked", {})).items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            logger.error("Ignoring unreadable state file %s: %s", self.statedb, exc)
            return 0
        before = len(self._ids)
        self.merge(entries)
        return len(self._ids) - before

    def save_state(self) -> None:
        """Write the live ids to ``statedb`` atomically (temp file, then rename)."""
        if not self.statedb:
            return
        self.purge()
        with self._lock:
            data = {"revoked": dict(self._ids)}
        folder = os.path.dirname(os.path.abspath(self.statedb))
        fd, tmp = tempfile.mkstemp(prefix=".statedb-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.statedb)
        except OSError as exc:
            logger.error("Could not save state to %s: %s", self.statedb, exc)
            if os.path.exists(tmp):
                os.unlink(tmp)


__all__ = ["RevokedRegistry"]
