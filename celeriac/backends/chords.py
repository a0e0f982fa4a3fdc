"""Chord joins: counting finished header tasks atomically in the result store.

A ``ChordJoin`` records each header task's outcome for its chord and tells the caller when its
addition completed the chord *and* won the right to fire the body (a claim): exactly one
caller gets each complete chord, however many workers finish header tasks at once, and a
redelivered header task counts once. Nobody polls.

* Redis: Celery 5.7's keys and Lua scripts, verbatim in effect (wire-protocol.md §4.4), so a
  chord can have header tasks finishing on Celery and celeriac workers alike: ``G.s`` size
  (written by the client), ``G.j`` zset of ``[1, tid, state, result]`` scored by index,
  ``G.d`` dedup set, ``G.t`` diff, ``G.c`` claim token then ``done``.
* SQLite: a chord row and part rows in the results file, counted and claimed in one
  ``BEGIN IMMEDIATE`` transaction.
* memory: the same under a lock.

Each store that declares ``Capability.CHORDS`` returns its join from ``chord_join()``.
The store only counts; firing the body (or failing it with ``ChordError``) is
``execution.callbacks.fire_chords``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol

from celeriac.backends.base import GROUP_KEY_PREFIX
from celeriac.serialization.json_codec import json_dumps, json_loads

logger = logging.getLogger(__name__)

_INF: Final = 1e308
CLAIM_EXPIRES: Final = 6
DONE_EXPIRES: Final = 300


@dataclass(frozen=True, slots=True)
class ChordPart:
    """One finished header task: which chord, where in the header, and how it ended."""

    task_id: str
    group_id: str
    group_index: int | None
    body: dict[str, Any]
    state: str
    result: Any
    root_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedChord:
    """A complete chord this caller must fire: header outcomes in header order."""

    part: ChordPart
    results: list[tuple[str, str, Any]]
    token: str = ""


class ChordJoin(Protocol):
    """The counting half of a chord; one per result store."""

    #: Parts that arrive before ``set_size`` are kept and counted once it comes (a header
    #: read from a generator is sized only before its last batch is sent: ``canvas.lazy``).
    counts_unsized_parts: bool

    def set_size(self, group_id: str, size: int) -> None:
        """Record how many header completions the chord waits for (client, before sending)."""

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        """Record ``parts`` atomically; return the chords they completed and claimed."""

    def finish(self, claimed: ClaimedChord) -> None:
        """Drop a fired chord's join data; late duplicates of its parts are then ignored."""

    def abandon(self, claimed: ClaimedChord) -> None:
        """A failed chord: drop its size so late copies of parts do not fail it again."""

    def grow(self, group_id: str, count: int) -> None:
        """Wait for ``count`` more parts (``Task.add_to_chord``); allowed before ``set_size``
        (a generator header is sized when its last task is sent), which keeps the growth."""


# -- Redis ------------------------------------------------------------------------------------
# Celery 5.7's scripts (celery/backends/redis.py), so both sides follow one protocol.
PART_RETURN_LUA: Final = """
local jkey, tkey, skey, dkey, gkey, ckey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tid, value, ordered, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local expires, group_expires = tonumber(ARGV[5]), tonumber(ARGV[6])
local claim_expires = tonumber(ARGV[7])
local claim_token = ARGV[8]
local done_marker = redis.call('GET', ckey)
if done_marker == 'done' then
    return {-1, 0, 0, 0}
end
local member = tid .. ':' .. score
if redis.call('SISMEMBER', dkey, member) == 0 then
    if ordered == '1' then
        redis.call('ZADD', jkey, score, value)
    else
        redis.call('RPUSH', jkey, value)
    end
    redis.call('SADD', dkey, member)
end
local readycount
if ordered == '1' then
    readycount = redis.call('ZCOUNT', jkey, '-inf', '+inf')
else
    readycount = redis.call('LLEN', jkey)
end
if expires > 0 then
    for _, key in ipairs({jkey, tkey, skey, dkey}) do
        redis.call('EXPIRE', key, expires)
    end
    if group_expires > 0 then
        redis.call('EXPIRE', gkey, group_expires)
    end
end
local totaldiff = redis.call('GET', tkey)
local size = redis.call('GET', skey)
local claimed = 0
if size and readycount == tonumber(size) + tonumber(totaldiff or 0) then
    if redis.call('SET', ckey, claim_token, 'NX', 'EX', claim_expires) then
        claimed = 1
    end
end
return {readycount, totaldiff, size, claimed}
"""

CLEANUP_LUA: Final = """
local ckey, jkey, tkey, skey, dkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local done_expires = tonumber(ARGV[2])
if redis.call('GET', ckey) == token then
    redis.call('DEL', jkey, tkey, skey, dkey)
    if done_expires and done_expires > 0 then
        redis.call('SET', ckey, 'done', 'EX', done_expires)
    end
    return 1
end
return 0
"""


class RedisChordJoin:
    """Celery-compatible chord counters in Redis (see the module docstring)."""

    counts_unsized_parts = True

    def __init__(self, client: Any, keyprefix: str = "", expires: float | None = 86400) -> None:
        self.client = client
        self.keyprefix = keyprefix
        self.expires = int(expires or 0)
        self._part_return = client.register_script(PART_RETURN_LUA)
        self._cleanup = client.register_script(CLEANUP_LUA)

    def key(self, group_id: str, suffix: str = "") -> str:
        return f"{self.keyprefix}{GROUP_KEY_PREFIX}{group_id}{suffix}"

    def set_size(self, group_id: str, size: int) -> None:
        """As the Celery 5.7 client: ``DEL G.c`` then ``SET G.s n EX``."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.key(group_id, ".c"))
        pipe.set(self.key(group_id, ".s"), size, ex=self.expires or None)
        pipe.execute()

    def grow(self, group_id: str, count: int) -> None:
        """Celery's ``add_to_chord``: ``INCR <gid>.t`` (the part script adds it to the size)."""
        self.client.incr(self.key(group_id, ".t"), count)

    def _keys(self, gid: str) -> list[str]:
        return [self.key(gid, ".j"), self.key(gid, ".t"), self.key(gid, ".s"),
                self.key(gid, ".d"), self.key(gid), self.key(gid, ".c")]

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        if not parts:
            return []
        tokens = [uuid.uuid4().hex for _ in parts]
        pipe = self.client.pipeline(transaction=False)
        for part, token in zip(parts, tokens, strict=True):
            encoded = json_dumps([1, part.task_id, part.state, part.result])
            score = "+inf" if part.group_index is None else part.group_index
            self._part_return(keys=self._keys(part.group_id),
                              args=[part.task_id, encoded, 1, score, self.expires,
                                    self.expires, CLAIM_EXPIRES, token], client=pipe)
        replies = pipe.execute()
        claimed: list[ClaimedChord] = []
        for part, token, reply in zip(parts, tokens, replies, strict=True):
            if int(reply[0]) >= 0 and int(reply[3]) == 1:
                rows = self.client.zrange(self.key(part.group_id, ".j"), 0, -1)
                claimed.append(ClaimedChord(part, [_decode_member(row) for row in rows], token))
        return claimed

    def finish(self, claimed: ClaimedChord) -> None:
        gid = claimed.part.group_id
        self._cleanup(keys=[self.key(gid, ".c"), self.key(gid, ".j"), self.key(gid, ".t"),
                            self.key(gid, ".s"), self.key(gid, ".d")],
                      args=[claimed.token, DONE_EXPIRES])

    def abandon(self, claimed: ClaimedChord) -> None:
        self.client.delete(self.key(claimed.part.group_id, ".s"))


def _decode_member(raw: bytes) -> tuple[str, str, Any]:
    _, tid, state, result = json_loads(raw)
    return str(tid), str(state), result


# -- SQLite -----------------------------------------------------------------------------------
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS celeriac_chords (gid TEXT PRIMARY KEY, size INTEGER,"
    " done INTEGER NOT NULL DEFAULT 0, expires_at REAL)",
    "CREATE TABLE IF NOT EXISTS celeriac_chord_parts (gid TEXT NOT NULL, member TEXT NOT NULL,"
    " idx REAL NOT NULL, tid TEXT NOT NULL, state TEXT NOT NULL, result BLOB,"
    " PRIMARY KEY (gid, member))",
    # Parts added by ``grow``, kept apart from ``size`` so that a later ``set_size`` keeps them.
    "CREATE TABLE IF NOT EXISTS celeriac_chord_growth (gid TEXT PRIMARY KEY,"
    " extra INTEGER NOT NULL)",
)


class SqliteChordJoin:
    """Chord counters as rows in the results file; claimed in the counting transaction."""

    counts_unsized_parts = True

    def __init__(self, path: str, expires: float | None = 86400) -> None:
        from celeriac.clients.sqlite import SqliteHandle

        self._handle = SqliteHandle(path)
        self.expires = expires
        with self._handle.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def _expiry(self) -> float | None:
        return None if not self.expires else time.time() + self.expires

    def set_size(self, group_id: str, size: int) -> None:
        with self._handle.transaction() as conn:
            conn.execute(
                "INSERT INTO celeriac_chords (gid, size, done, expires_at) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (gid) DO UPDATE SET size = excluded.size, done = 0,"
                " expires_at = excluded.expires_at", (group_id, size, self._expiry()))
            now = time.time()
            conn.execute("DELETE FROM celeriac_chord_growth WHERE gid IN"
                         " (SELECT gid FROM celeriac_chords WHERE expires_at < ?)", (now,))
            conn.execute("DELETE FROM celeriac_chords WHERE expires_at < ?", (now,))

    def grow(self, group_id: str, count: int) -> None:
        with self._handle.transaction() as conn:
            conn.execute(
                "INSERT INTO celeriac_chord_growth (gid, extra) VALUES (?, ?)"
                " ON CONFLICT (gid) DO UPDATE SET extra = extra + excluded.extra",
                (group_id, count))

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        if not parts:
            return []
        claimed: list[ClaimedChord] = []
        with self._handle.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO celeriac_chord_parts VALUES (?, ?, ?, ?, ?, ?)",
                [(p.group_id, f"{p.task_id}:{p.group_index}",
                  _INF if p.group_index is None else p.group_index, p.task_id, p.state,
                  json_dumps(p.result)) for p in parts])
            last = {p.group_id: p for p in parts}
            for gid, part in last.items():
                row = conn.execute("SELECT size, done FROM celeriac_chords WHERE gid = ?",
                                   (gid,)).fetchone()
                if row is None or row[0] is None or row[1]:
                    continue
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM celeriac_chord_parts WHERE gid = ?", (gid,)).fetchone()
                (extra,) = conn.execute(
                    "SELECT COALESCE(SUM(extra), 0) FROM celeriac_chord_growth WHERE gid = ?",
                    (gid,)).fetchone()
                if count == int(row[0]) + int(extra):
                    rows = conn.execute(
                        "SELECT tid, state, result FROM celeriac_chord_parts WHERE gid = ?"
                        " ORDER BY idx, rowid", (gid,)).fetchall()
                    conn.execute("UPDATE celeriac_chords SET done = 1 WHERE gid = ?", (gid,))
                    results = [(str(t), str(s), json_loads(r)) for t, s, r in rows]
                    claimed.append(ClaimedChord(part, results))
        return claimed

    def finish(self, claimed: ClaimedChord) -> None:
        with self._handle.transaction() as conn:
            conn.execute("DELETE FROM celeriac_chord_parts WHERE gid = ?",
                         (claimed.part.group_id,))
            conn.execute("DELETE FROM celeriac_chord_growth WHERE gid = ?",
                         (claimed.part.group_id,))

    def abandon(self, claimed: ClaimedChord) -> None:
        self.finish(claimed)


# -- memory -----------------------------------------------------------------------------------
class MemoryChordJoin:
    """Chord counters in this process (the ``cache+memory://`` store), under one lock."""

    counts_unsized_parts = True

    _tables: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "") -> None:
        with self._lock:
            self._chords = self._tables.setdefault(name, {})

    def set_size(self, group_id: str, size: int) -> None:
        with self._lock:
            entry = self._chords.setdefault(group_id, {"parts": {}})
            entry.update(size=size, done=False)

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        claimed: list[ClaimedChord] = []
        with self._lock:
            for part in parts:
                entry = self._chords.setdefault(part.group_id, {"parts": {}, "done": False})
                index = _INF if part.group_index is None else part.group_index
                member = f"{part.task_id}:{part.group_index}"
                entry["parts"].setdefault(member, (index, len(entry["parts"]),
                                                   (part.task_id, part.state, part.result)))
                size = entry.get("size")
                if size is not None and not entry["done"] and (
                        len(entry["parts"]) == size + entry.get("extra", 0)):
                    entry["done"] = True
                    ordered = sorted(entry["parts"].values(), key=lambda item: item[:2])
                    claimed.append(ClaimedChord(part, [item[2] for item in ordered]))
        return claimed

    def grow(self, group_id: str, count: int) -> None:
        with self._lock:
            entry = self._chords.setdefault(group_id, {"parts": {}, "done": False})
            entry["extra"] = entry.get("extra", 0) + count

    def finish(self, claimed: ClaimedChord) -> None:
        with self._lock:
            entry = self._chords.get(claimed.part.group_id)
            if entry is not None:
                entry["parts"] = {}
                entry.pop("extra", None)

    def abandon(self, claimed: ClaimedChord) -> None:
        self.finish(claimed)


# -- key-value stores (memcached, files) --------------------------------------------------------
def part_row(part: ChordPart) -> list[Any]:
    """How a key-value store's join keeps one part: ``[member, index, tid, state, result]``
    (``member`` is ``tid:index``: a redelivered part has the same one)."""
    return [f"{part.task_id}:{part.group_index}", part.group_index, part.task_id, part.state,
            part.result]


def distinct_members(rows: Sequence[Sequence[Any]]) -> int:
    return len({row[0] for row in rows})


def ordered_results(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str, Any]]:
    """``part_row`` rows in arrival order -> outcomes in header order, the first copy of each
    member only (ties keep arrival order, as Redis's zset of equal scores)."""
    first: dict[str, tuple[float, int, tuple[str, str, Any]]] = {}
    for seq, (member, index, tid, state, result) in enumerate(rows):
        if member not in first:
            first[member] = (_INF if index is None else float(index), seq,
                             (str(tid), str(state), result))
    return [item[2] for item in sorted(first.values(), key=lambda item: item[:2])]


# -- one per store --------------------------------------------------------------------------
class LazyJoin:
    """A store's ``ChordJoin``, built on its first use (SQLite creates its tables then), once,
    however many threads ask at the same time: a store's ``chord_join()`` returns it."""

    def __init__(self, build: Callable[[], ChordJoin]) -> None:
        self._build = build
        self._join: ChordJoin | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ChordJoin:
        join = self._join
        if join is None:
            with self._lock:
                if self._join is None:
                    self._join = self._build()
                join = self._join
        return join


__all__ = ["ChordJoin", "ChordPart", "ClaimedChord", "LazyJoin", "MemoryChordJoin",
           "RedisChordJoin", "SqliteChordJoin", "distinct_members", "ordered_results",
           "part_row"]
