"""``cache+memcached://h1:11211;h2:11211/``: results in memcached, as Celery's cache backend.

* Keys and values as Celery writes them: ``celery-task-meta-<id>`` (``global_keyprefix`` in
  front) holding the encoded record with flags 0, groups under ``celery-taskset-meta-<gid>``,
  so Celery and celeriac read each other's records. ``result_expires`` is the item lifetime
  (memcached reads more than 30 days as a Unix time, so longer lifetimes are sent as one;
  Celery sends them as they are and its items expire at once).
* ``result_backend='cache'`` with ``cache_backend='memcached://...'`` is the older spelling
  (``backends/__init__.py`` resolves it); ``cache_backend_options`` configure the client.
* Store-if-not-final without a lock: each record is written with ``add`` where there is none,
  else read with ``gets`` and replaced with ``cas`` only if nobody wrote in between and
  ``final_state.may_replace`` allows it; a lost race reads again. A SUCCESS written by
  another worker at the same time is never overwritten.
* Chords (``MemcachedChordJoin``): each part is appended to the chord's list (``append`` is
  atomic on the server), then a counter is incremented (``incr``, atomic too). A part whose
  count reaches the chord's size reads the list; when it holds every member, ``add`` of the
  claim key picks exactly one caller to fire the body. A redelivered part is appended twice
  but counted once when the list is read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, Self, TypeVar

from celeriac.backends.base import (
    GROUP_KEY_PREFIX,
    TASK_KEY_PREFIX,
    KeyValueBackend,
    celery_keyprefix,
)
from celeriac.backends.capabilities import Capability
from celeriac.backends.chords import (
    ChordJoin,
    ChordPart,
    ClaimedChord,
    LazyJoin,
    distinct_members,
    ordered_results,
    part_row,
)
from celeriac.clients.memcached import build_client, describe, guarded, parse_servers
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import OperationalError
from celeriac.protocol.result_meta import ResultMeta
from celeriac.serialization.json_codec import json_dumps, json_loads

#: Memcached reads an expiry above this as an absolute Unix time.
MAX_RELATIVE_EXPIRES: Final = 30 * 24 * 3600
#: Attempts of one compare-and-set write before giving up (each lost race is another
#: writer's success, so this is reached only when the servers keep failing writes).
_CAS_ATTEMPTS: Final = 100

T = TypeVar("T")


def memcached_expiry(seconds: float | None) -> int:
    """The ``exptime`` memcached understands for a lifetime of ``seconds`` (0: never)."""
    if not seconds:
        return 0
    if seconds > MAX_RELATIVE_EXPIRES:
        return int(time.time() + seconds)
    return max(int(seconds), 1)


class MemcachedBackend(KeyValueBackend):
    """Task results in memcached; thread-safe (pooled pymemcache clients)."""

    persistent = True
    capabilities = KeyValueBackend.capabilities | {Capability.CHORDS}

    def __init__(self, client: Any, options: BackendOptions | None = None, *,
                 keyprefix: str = "", where: str = "memcached") -> None:
        super().__init__(options)
        self.client = client
        self.keyprefix = keyprefix
        self.where = where
        self.ttl = memcached_expiry(self.options.expires)
        self._chord_join = LazyJoin(lambda: MemcachedChordJoin(self))

    @classmethod
    def from_url(cls, url: str, options: BackendOptions | None = None) -> Self:
        """Build from ``cache+memcached://h1:11211;h2:11211/`` (no I/O happens here)."""
        options = options or BackendOptions()
        servers = parse_servers(url)
        client = build_client(servers, options.cache_backend_options)
        return cls(client, options, keyprefix=celery_keyprefix(options.keyvalue.global_keyprefix),
                   where=describe(servers))

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with connection failures raised as ``OperationalError`` (retried by the
        worker per ``result_backend_always_retry``)."""
        return guarded(self.where, what, fn)

    # -- primitives ------------------------------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        value: bytes | None = self.call("read a result",
                                        lambda: self.client.get(self.keyprefix + key))
        return value

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        found = self.call("read results",
                          lambda: self.client.get_many([self.keyprefix + key for key in keys]))
        return [found.get(self.keyprefix + key) for key in keys]

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        values = {self.keyprefix + key: value for key, value in items}
        failed = self.call("store results", lambda: self.client.set_many(
            values, expire=memcached_expiry(ttl)))
        if failed:
            raise OperationalError(f"Memcached result store at {self.where} did not store "
                                   f"{len(failed)} of {len(values)} record(s)")

    def _kv_delete(self, key: str) -> None:
        self.call("forget a result", lambda: self.client.delete(self.keyprefix + key))

    # -- the ResultBackend interface -------------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Write each record unless it would replace a final state; see the module docstring.
        One ``gets_many`` reads the whole batch first, so an uncontended batch of n records
        costs n + 1 round trips."""
        if metas:
            self.call("store results", partial(self._store_batch, metas))

    def _store_batch(self, metas: Sequence[ResultMeta]) -> None:
        keys = [self.keyprefix + TASK_KEY_PREFIX + meta.task_id for meta in metas]
        found = self.client.gets_many(list(dict.fromkeys(keys))) or {}
        #: Each key's first write uses the batch read; later ones (a retried task can appear
        #: twice in a batch) and lost races read again.
        fresh: dict[str, tuple[Any, Any]] = {key: found.get(key, (None, None)) for key in keys}
        for key, meta in zip(keys, metas, strict=True):
            self._store_one(key, meta, fresh.pop(key, None))

    def _store_one(self, key: str, meta: ResultMeta, read: tuple[Any, Any] | None) -> None:
        value = self.encode_meta(meta)
        for _ in range(_CAS_ATTEMPTS):
            # HashClient answers None instead of a pair while a server is marked failing.
            old, token = read or self.client.gets(key) or (None, None)
            read = None
            if old is None:
                if self.client.add(key, value, expire=self.ttl, noreply=False):
                    return
                continue  # another writer got there first: judge its record
            if not self.if_not_final.replacing([key], [meta], {key: old}):
                return
            if self.client.cas(key, value, token, expire=self.ttl, noreply=False):
                return
        raise OperationalError(f"Memcached result store at {self.where} kept refusing the "
                               f"record of task {meta.task_id}")

    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"<MemcachedBackend {self.where}>"


class MemcachedChordJoin:
    """Chord counters in memcached (see the module docstring): keys ``<group key>.s`` (size),
    ``.t`` (tasks added by ``add_to_chord``), ``.j`` (the parts, one JSON row a line), ``.n``
    (how many were appended), ``.c`` (claim).

    ``set_size`` starts the parts afresh, so parts that came before it are not counted
    (``counts_unsized_parts`` False: the canvas reads a generator header whole first).
    """

    counts_unsized_parts = False

    def __init__(self, store: MemcachedBackend) -> None:
        self.store = store
        self.client = store.client

    def key(self, group_id: str, suffix: str) -> str:
        return f"{self.store.keyprefix}{GROUP_KEY_PREFIX}{group_id}{suffix}"

    def set_size(self, group_id: str, size: int) -> None:
        values = {self.key(group_id, ".s"): str(size).encode(),
                  self.key(group_id, ".j"): b"", self.key(group_id, ".n"): b"0"}

        def run() -> None:
            self.client.delete(self.key(group_id, ".c"), noreply=False)
            if self.client.set_many(values, expire=self.store.ttl, noreply=False):
                raise OperationalError(f"Memcached at {self.store.where} did not store the "
                                       f"size of chord {group_id}")

        self.store.call("start a chord", run)

    def grow(self, group_id: str, count: int) -> None:
        """``add_to_chord``: wait for ``count`` more parts (kept by a later ``set_size``)."""
        key = self.key(group_id, ".t")

        def run() -> None:
            if (self.client.incr(key, count, noreply=False) is None
                    and not self.client.add(key, str(count).encode(), expire=self.store.ttl,
                                            noreply=False)
                    and self.client.incr(key, count, noreply=False) is None):  # a racing add
                raise OperationalError(f"Memcached at {self.store.where} did not grow chord "
                                       f"{group_id}")

        self.store.call("grow a chord", run)

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        claimed: list[ClaimedChord] = []
        for part in parts:
            chord = self.store.call("join a chord part", partial(self._add, part))
            if chord is not None:
                claimed.append(chord)
        return claimed

    def _add(self, part: ChordPart) -> ClaimedChord | None:
        gid = part.group_id
        parts_key = self.key(gid, ".j")
        line = json_dumps(part_row(part)) + b"\n"
        recorded = (self.client.append(parts_key, line, noreply=False)
                    or self.client.add(parts_key, line, expire=self.store.ttl, noreply=False)
                    or self.client.append(parts_key, line, noreply=False))  # a racing add won
        if not recorded:
            raise OperationalError(f"Memcached at {self.store.where} did not record a part of "
                                   f"chord {gid}")
        count = self.client.incr(self.key(gid, ".n"), 1, noreply=False)
        sizes = self.client.get_many([self.key(gid, ".s"), self.key(gid, ".t")])
        raw_size = sizes.get(self.key(gid, ".s"))
        if raw_size is None:
            return None  # no size (never set, expired or abandoned): nothing to claim
        size = int(raw_size) + int(sizes.get(self.key(gid, ".t")) or 0)
        if count is not None and int(count) < size:
            return None
        raw = self.client.get(parts_key) or b""
        rows = [json_loads(row) for row in raw.splitlines() if row]
        if distinct_members(rows) < size:
            return None
        token = uuid.uuid4().hex
        if not self.client.add(self.key(gid, ".c"), token.encode(), expire=self.store.ttl,
                               noreply=False):
            return None
        return ClaimedChord(part, ordered_results(rows), token)

    def _drop(self, group_id: str) -> None:
        keys = [self.key(group_id, suffix) for suffix in (".s", ".t", ".j", ".n")]
        self.store.call("drop a chord", lambda: self.client.delete_many(keys, noreply=False))

    def finish(self, claimed: ClaimedChord) -> None:
        """Drop the parts; the claim key stays (until it expires) so late copies claim nothing."""
        self._drop(claimed.part.group_id)

    def abandon(self, claimed: ClaimedChord) -> None:
        self._drop(claimed.part.group_id)


__all__ = ["MAX_RELATIVE_EXPIRES", "MemcachedBackend", "MemcachedChordJoin", "memcached_expiry"]
