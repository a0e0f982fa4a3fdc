"""``file:///path/to/dir``: results as files in a directory, as Celery's filesystem backend.

* One file per key, named by the key (``celery-task-meta-<id>``, ``global_keyprefix`` in
  front) and holding exactly the encoded record, so Celery's ``file://`` backend and celeriac
  read each other's files. The directory must exist, as Celery requires.
* Safe with several processes (and threads) on one machine: every file is written to a
  hidden temporary file and moved into place with ``os.replace``, so a reader sees the old
  record or the new one, never half of one. Read-modify-writes (store-if-not-final, chord
  counting) hold an exclusive ``fcntl.flock`` on ``.celeriac.lock`` in the directory; readers
  take no lock.
* ``result_expires``: a file older than that (by its modification time, as Celery's
  ``cleanup`` judges) reads as missing. Writers delete expired files at most once a minute
  (``cleanup()``, which is also what Celery's ``celery.backend_cleanup`` task calls).
* Chords: one JSON file per chord (``<group key>.chord``) with its size and parts, rewritten
  under the lock; the part that completes it marks it done and claims it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final, Self

from celeriac.backends import chords
from celeriac.backends.base import (
    GROUP_KEY_PREFIX,
    TASK_KEY_PREFIX,
    KeyValueBackend,
    celery_keyprefix,
)
from celeriac.backends.capabilities import Capability
from celeriac.backends.chords import ChordJoin, ChordPart, ClaimedChord, LazyJoin
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol.result_meta import ResultMeta

LOCK_NAME: Final = ".celeriac.lock"
_TMP_PREFIX: Final = ".tmp-"
_CLEANUP_EVERY: Final = 60.0
#: Celery's chord counter prefix; its ``cleanup`` removes these files too.
_CHORD_KEY_PREFIX: Final = "chord-unlock-"


def directory_of(url: str) -> str:
    """The directory of a ``file://`` URL, as Celery reads it (``file://localhost/`` too).

    Raises:
        ImproperlyConfigured: no path, or the path is not a writable directory.
    """
    if url.startswith("file://localhost/"):
        path = url[len("file://localhost"):]
    elif url.startswith("file://"):
        path = url[len("file://"):]
    else:
        raise ImproperlyConfigured(
            "A path for the file-system result store should conform to the file URI scheme")
    if not path:
        raise ImproperlyConfigured(
            "You need to configure a path for the file-system result store: file:///dir")
    if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
        raise ImproperlyConfigured(
            f"The file-system result store's directory {path!r} does not exist or is not "
            "writable: create it (celeriac does not, as Celery does not)")
    return path


class FilesystemBackend(KeyValueBackend):
    """Task results as files in one directory; thread- and multi-process-safe."""

    persistent = True
    capabilities = KeyValueBackend.capabilities | {Capability.CHORDS}

    def __init__(self, path: str, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.path = path
        self.keyprefix = celery_keyprefix(self.options.keyvalue.global_keyprefix)
        self._lock_path = os.path.join(path, LOCK_NAME)
        self._last_cleanup = 0.0
        self._chord_join = LazyJoin(lambda: FileChordJoin(self))

    @classmethod
    def from_url(cls, url: str, options: BackendOptions | None = None) -> Self:
        return cls(directory_of(url), options)

    def filename(self, key: str) -> str:
        return os.path.join(self.path, self.keyprefix + key)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes and threads (each holder opens its own descriptor)."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- files ---------------------------------------------------------------------------
    def read(self, name: str) -> bytes | None:
        """The content of file ``name``; None when missing or expired."""
        try:
            with open(name, "rb") as infile:
                if self._expired(os.fstat(infile.fileno()).st_mtime, time.time()):
                    return None
                return infile.read()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        """Replace file ``name`` atomically: a reader sees the old content or the new."""
        tmp = os.path.join(self.path, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as outfile:
                outfile.write(data)
            os.replace(tmp, name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _expired(self, mtime: float, now: float) -> bool:
        return bool(self.options.expires) and mtime + (self.options.expires or 0) <= now

    # -- primitives ------------------------------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        return self.read(self.filename(key))

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        for key, value in items:
            self.write(self.filename(key), value)
        self._maybe_cleanup()

    def _kv_delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.filename(key))

    # -- the ResultBackend interface -------------------------------------------------------
    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Read and write under the directory lock, so a racing SUCCESS is never overwritten
        (nor a finished state by a stale RETRY: ``may_replace``)."""
        if not metas:
            return
        keys = [TASK_KEY_PREFIX + meta.task_id for meta in metas]
        with self.locked():
            existing = dict(zip(keys, self._kv_mget(keys), strict=True))
            for key, value in self.if_not_final.replacing(keys, metas, existing):
                self.write(self.filename(key), value)
        self._maybe_cleanup()

    def chord_join(self) -> ChordJoin:
        return self._chord_join()

    # -- expiry ----------------------------------------------------------------------------
    def _maybe_cleanup(self) -> None:
        now = time.monotonic()
        if self.options.expires and now - self._last_cleanup >= _CLEANUP_EVERY:
            self._last_cleanup = now
            self.cleanup()

    def cleanup(self) -> None:
        """Delete expired records, groups and chords (Celery's ``cleanup``; the same rule)."""
        if not self.options.expires:
            return
        now = time.time()
        prefixes = tuple(self.keyprefix + prefix for prefix in
                         (TASK_KEY_PREFIX, GROUP_KEY_PREFIX, _CHORD_KEY_PREFIX))
        with os.scandir(self.path) as entries:
            for entry in entries:
                if not entry.name.startswith(prefixes):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if self._expired(entry.stat().st_mtime, now):
                        os.unlink(entry.path)

    def __repr__(self) -> str:
        return f"<FilesystemBackend file://{self.path}>"


class FileChordJoin:
    """Chord counters as ``<group key>.chord`` files, counted and claimed under the lock:
    ``{"size": n, "extra": k, "done": bool, "parts": [part_row, ...]}`` (``extra``: tasks
    added by ``add_to_chord``). Parts that come before the size are kept and counted."""

    counts_unsized_parts = True

    def __init__(self, store: FilesystemBackend) -> None:
        self.store = store

    def _name(self, group_id: str) -> str:
        return self.store.filename(f"{GROUP_KEY_PREFIX}{group_id}.chord")

    def _load(self, group_id: str) -> dict[str, Any]:
        raw = self.store.read(self._name(group_id))
        return json.loads(raw) if raw else {"size": None, "done": False, "parts": []}

    def _save(self, group_id: str, chord: dict[str, Any]) -> None:
        self.store.write(self._name(group_id), json.dumps(chord).encode())

    def set_size(self, group_id: str, size: int) -> None:
        with self.store.locked():
            chord = self._load(group_id)
            chord.update(size=size, done=False)
            self._save(group_id, chord)

    def grow(self, group_id: str, count: int) -> None:
        """``add_to_chord``: wait for ``count`` more parts (kept by a later ``set_size``)."""
        with self.store.locked():
            chord = self._load(group_id)
            chord["extra"] = chord.get("extra", 0) + count
            self._save(group_id, chord)

    def add_parts(self, parts: Sequence[ChordPart]) -> list[ClaimedChord]:
        claimed: list[ClaimedChord] = []
        with self.store.locked():
            for part in parts:
                chord = self._load(part.group_id)
                if chord["done"]:
                    continue  # fired already: a late copy of a part
                chord["parts"].append(chords.part_row(part))
                size = chord["size"]
                if size is not None and (chords.distinct_members(chord["parts"])
                                         >= size + chord.get("extra", 0)):
                    chord["done"] = True
                    claimed.append(ClaimedChord(part, chords.ordered_results(chord["parts"])))
                self._save(part.group_id, chord)
        return claimed

    def finish(self, claimed: ClaimedChord) -> None:
        """Keep only the ``done`` mark (late copies of parts then claim nothing)."""
        gid = claimed.part.group_id
        with self.store.locked():
            self._save(gid, {"size": None, "done": True, "parts": []})

    def abandon(self, claimed: ClaimedChord) -> None:
        self.finish(claimed)


__all__ = ["LOCK_NAME", "FileChordJoin", "FilesystemBackend", "directory_of"]
