"""Redis result store, record-for-record compatible with Celery's ``redis://`` backend (§4.1).

* Key ``celery-task-meta-<id>`` (``global_keyprefix`` from ``result_backend_transport_options``
  is prepended as Celery does, with ``_`` added unless it ends in ``:_-.``).
* Writes: the base class GETs first (a stored SUCCESS is never overwritten, pitfall §7.15),
  then one ``MULTI`` pipeline of ``SETEX`` (``SET`` without TTL when ``result_expires`` is
  None/0) plus ``PUBLISH`` of the same value on a channel named like the key (§7.14): one round
  trip for a whole batch of results.
* Waiting: SUBSCRIBE to the key's channel, then GET (covers a result stored before the
  subscription), then wait for the notification. If pub/sub fails the wait falls back to the
  base class's polling, so a broken subscription costs latency, never correctness.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

import redis
from redis.client import PubSub

from celeriac.backends.base import TASK_KEY_PREFIX, KeyValueBackend, celery_keyprefix
from celeriac.backends.capabilities import Capability
from celeriac.backends.chords import ChordJoin, LazyJoin, RedisChordJoin
from celeriac.clients.redis import (
    PinnedClients,
    build_client,
    describe,
    parse_url,
)
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import OperationalError, TimeoutError
from celeriac.protocol.result_meta import ResultMeta

logger = logging.getLogger(__name__)
_ERRORS = (redis.ConnectionError, redis.TimeoutError)


#: KEYS: result keys. ARGV: ttl (0: none), then one encoded record per key. Writes a record
#: and PUBLISHes it on the key's channel as ``backends.final_state.may_replace`` allows: never
#: over a SUCCESS, never a RETRY over a finished state; keys are judged in order. The stored
#: status is the parsed value (as ``final_state.stored_status``): read from the record's
#: start when it has the usual layout and no escape, else by decoding the whole record.
_STORE_UNLESS_SUCCESS = """
local head = '{"status": "'
local function status_of(old)
  if string.sub(old, 1, #head) == head then
    local close = string.find(old, '"', #head + 1, true)
    if close then
      local value = string.sub(old, #head + 1, close - 1)
      if not string.find(value, '\\\\', 1, true) then
        return value
      end
    end
  end
  local ok, rec = pcall(cjson.decode, old)
  if ok and type(rec) == 'table' then
    return rec['status']
  end
  return nil
end
local ttl = tonumber(ARGV[1])
local finished = {SUCCESS = true, FAILURE = true, REVOKED = true}
for i, key in ipairs(KEYS) do
  local old = redis.call('GET', key)
  local was = old and status_of(old)
  local value = ARGV[i + 1]
  if was ~= 'SUCCESS' and not (finished[was] and status_of(value) == 'RETRY') then
    if ttl > 0 then
      redis.call('SET', key, value, 'EX', ttl)
    else
      redis.call('SET', key, value)
    end
    redis.call('PUBLISH', key, value)
  end
end
return 0
"""


class RedisBackend(KeyValueBackend):
    """Results in Redis; thread-safe (redis-py's pool, one pub/sub connection per thread)."""

    persistent = True
    capabilities = KeyValueBackend.capabilities | {Capability.CHORDS}

    def __init__(
        self, client: redis.Redis, options: BackendOptions | None = None, *, keyprefix: str = ""
    ) -> None:
        super().__init__(options)
        self._chord_join = LazyJoin(
            lambda: RedisChordJoin(self.client, self.keyprefix, self.options.expires))
        self.client = client
        self.keyprefix = keyprefix
        self.where = "redis"
        self._local = threading.local()
        self._pin = PinnedClients(client)
        self._store_script = client.register_script(_STORE_UNLESS_SUCCESS)

    @classmethod
    def from_url(cls, url: str, options: BackendOptions | None = None) -> Self:
        """Build from a ``redis://``/``rediss://``/``redis+socket://``/``sentinel://`` URL.

        ``options.redis`` is ``result_backend_transport_options`` (``global_keyprefix``,
        ``master_name``, ssl options, ``socket_timeout``...). No I/O happens here.
        """
        typed = (options or BackendOptions()).redis
        params = parse_url(url, typed)
        client = build_client(params, typed, typed.socket_connect_timeout)
        store = cls(client, options, keyprefix=celery_keyprefix(typed.global_keyprefix))
        store.where = describe(params, typed)
        return store

    # -- primitives --------------------------------------------------------------------------
    def _kv_get(self, key: str) -> bytes | None:
        value: bytes | None = self._guard(
            lambda: self._pin("read").get(self.keyprefix + key), "read a result"
        )
        return value

    def _kv_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        prefixed = [self.keyprefix + key for key in keys]
        values: list[bytes | None] = self._guard(
            lambda: list(self.client.mget(prefixed)), "read results"
        )
        return values

    def store(self, metas: Sequence[ResultMeta]) -> None:
        """Store and notify in one atomic round trip, as ``may_replace`` allows (no SUCCESS
        overwritten, no finished state hidden by a stale RETRY).

        Celery checks with a GET and then writes (two round trips, a window between them);
        the script does both on the server (wire-protocol.md §4.1, §7.15). The script reads
        JSON only, so records in another serializer or compressed are written as Celery does.
        """
        if not metas:
            return
        if not self.codec.plain_json:
            super().store(metas)
            return
        keys = [self.keyprefix + TASK_KEY_PREFIX + meta.task_id for meta in metas]
        ttl = int(max(self.options.expires, 1)) if self.options.expires else 0
        args: list[bytes | int] = [ttl, *(self.encode_meta(meta) for meta in metas)]
        self._guard(lambda: self._store_script(keys=keys, args=args, client=self._pin("store")),
                    "store results")

    def _kv_set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> None:
        def run() -> None:
            pipe = self.client.pipeline(transaction=True)
            for key, value in items:
                name = self.keyprefix + key
                if ttl:
                    pipe.set(name, value, ex=max(int(ttl), 1))
                else:
                    pipe.set(name, value)
                pipe.publish(name, value)
            pipe.execute()

        self._guard(run, "store results")

    def _kv_delete(self, key: str) -> None:
        self._guard(lambda: self.client.delete(self.keyprefix + key), "forget a result")

    def chord_join(self) -> ChordJoin:
        """Celery 5.7's chord keys under this store's ``global_keyprefix``."""
        return self._chord_join()

    def _guard(self, fn: Any, what: str) -> Any:
        try:
            return fn()
        except _ERRORS as exc:
            problem = ("refused the credentials" if isinstance(exc, redis.AuthenticationError)
                       else "is unreachable")
            raise OperationalError(
                f"Redis result store at {self.where} {problem} while trying to {what}: {exc}"
            ) from exc

    # -- waiting -----------------------------------------------------------------------------
    def wait(self, task_id: str, timeout: float | None, interval: float = 0.5) -> ResultMeta:
        """Notification-driven wait; polling only if pub/sub is unavailable.

        Subscribes first and reads second (one GET covers a result stored before the
        subscription), saving a round trip on the common ``delay().get()``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return self._wait_pubsub(task_id, deadline)
        except _ERRORS as exc:
            logger.warning("Result pub/sub failed (%s); polling for %s instead", exc, task_id)
            self._drop_pubsub()
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        return super().wait(task_id, remaining, interval)

    def _pubsub(self) -> PubSub:
        pubsub: PubSub | None = getattr(self._local, "pubsub", None)
        if pubsub is None:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            self._local.pubsub = pubsub
        return pubsub

    def _drop_pubsub(self) -> None:
        pubsub: PubSub | None = getattr(self._local, "pubsub", None)
        self._local.pubsub = None
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                pubsub.close()

    def _wait_pubsub(self, task_id: str, deadline: float | None) -> ResultMeta:
        channel = (self.keyprefix + "celery-task-meta-" + task_id).encode()
        pubsub = self._pubsub()
        pubsub.subscribe(channel)
        try:
            meta = self.get(task_id)  # stored between our first GET and SUBSCRIBE
            while not meta.ready:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}.")
                wait = 1.0 if deadline is None else min(max(deadline - time.monotonic(), 0), 1.0)
                message = pubsub.get_message(timeout=wait)
                if message is None or message.get("type") != "message":
                    continue
                if message.get("channel") == channel:
                    meta = self.decode_meta(task_id, message["data"])
        finally:
            pubsub.unsubscribe(channel)  # type: ignore[no-untyped-call]
        return meta

    def close(self) -> None:
        self._drop_pubsub()
        self._pin.close()
        self.client.close()
        self.client.connection_pool.disconnect()


__all__ = ["RedisBackend", "celery_keyprefix"]
