"""Putting leased messages back: dead peers, our own orphans, and kombu's visibility timeout.

Three ways a message can be stuck in ``unacked``:

1. **A celeriac consumer died** (SIGKILL, lost machine). Its liveness key expires after
   ``lease_timeout``; the next peer heartbeat claims its lease hash in one script
   (``CLAIM_DEAD``), then returns each message to the front of its queue with ``RELEASE``.
   Because the claim makes the messages *ours* first, a crash of the restorer midway only
   hands them to the next peer: nothing is lost, nothing is doubled.
2. **Our own leases that Python does not know** (a fetch whose reply was lost to a dropped
   connection). Same path, restricted to tags not in ``channel.held``.
3. **A Celery worker died.** Its entries carry no celeriac lease; after ``visibility_timeout``
   they are restored exactly as kombu does (mutex, WATCH/MULTI per tag, RPUSH with
   ``redelivered``), so a mixed Celery/celeriac fleet behaves like an all-Celery one.

Restored envelopes are rewritten in Python (``redelivered: true`` in headers and
``delivery_info``) because Redis' cjson cannot re-encode JSON losslessly.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import redis

from celeriac.protocol.envelope import envelope_priority
from celeriac.transport.redis.deadletter import make_record
from celeriac.transport.redis.framing import unacked_item
from celeriac.transport.redis.keys import BAD_FIELD_PREFIX, as_bytes, as_text

if TYPE_CHECKING:
    from celeriac.transport.redis.channel import RedisChannel

logger = logging.getLogger(__name__)
MUTEX_EXPIRE_MS = 300_000
SCAN_LIMIT = 1000


def restore_dead(channel: RedisChannel) -> int:
    """Claim the leases of every dead celeriac consumer and put them back on their queues."""
    layout = channel.layout
    claimed = channel.scripts.claim_dead(
        keys=[layout.consumers, channel.leases_key, layout.deadletter],
        args=[
            layout.prefix,
            channel.consumer_id,
            "",
            layout.sep,
            time.time(),
            ",".join(str(s) for s in layout.priority_steps),
        ],
    )
    if not claimed:
        return 0
    restored = restore_unheld(channel)
    logger.warning("Restored %d message(s) held by dead consumers", restored)
    return restored


def restore_own(channel: RedisChannel) -> int:
    """On close: everything we hold goes back now; then we leave the registry."""
    layout = channel.layout
    with channel.lease_lock:
        channel.held.clear()
    channel.scripts.claim_dead(
        keys=[layout.consumers, channel.leases_key, layout.deadletter],
        args=[
            layout.prefix,
            channel.consumer_id,
            channel.consumer_id,
            layout.sep,
            time.time(),
            ",".join(str(s) for s in layout.priority_steps),
        ],
    )
    restored = restore_unheld(channel)
    pipe = channel.client.pipeline(transaction=False)
    pipe.srem(layout.consumers, channel.consumer_id)
    pipe.delete(layout.liveness(channel.consumer_id), channel.leases_key)
    pipe.execute()
    return restored


def restore_unheld(channel: RedisChannel) -> int:
    """Return every message in our lease hash that no caller of ours holds a ``Delivery`` for."""
    client, layout = channel.client, channel.layout
    with channel.fetch_lock, channel.lease_lock:  # no fetch may be between lease and held
        fields = client.hgetall(channel.leases_key)
        held = set(channel.held)
    pending = [(as_text(f), as_bytes(v)) for f, v in fields.items() if as_text(f) not in held]
    if not pending:
        return 0
    good = [(tag, value.decode()) for tag, value in pending if not tag.startswith(BAD_FIELD_PREFIX)]
    stored = client.hmget(layout.unacked_key, [tag for tag, _ in good]) if good else []
    args: list[Any] = []
    stale: list[str] = []
    for (tag, queue), value in zip(good, stored, strict=True):
        if value is None:  # already restored by someone else (e.g. a Celery scan)
            stale.append(tag)
            continue
        target, payload = _redelivery(as_bytes(value), queue, channel)
        args += [tag, "rpush", target, payload, 0, "1"]
    for tag, value in pending:
        if tag.startswith(BAD_FIELD_PREFIX):
            source, _, raw = value.partition(b"\n")
            if source:
                args += [tag, "rpush", source.decode(), raw, 0, "0"]
            else:
                args += [tag, "rpush", layout.deadletter, _bad_record(raw), 0, "0"]
    if stale:
        client.hdel(channel.leases_key, *stale)
    if not args:
        return 0
    return int(
        channel.scripts.release(
            keys=[layout.unacked_key, layout.unacked_index_key, channel.leases_key], args=args
        )
    )


def _bad_record(raw: bytes) -> bytes:
    return make_record(raw, "", "malformed message left by a dead consumer")


def _redelivery(stored: bytes, queue: str, channel: RedisChannel) -> tuple[str, bytes]:
    """The bucket key and the ``redelivered``-marked envelope for an ``unacked`` value.

    An entry that does not parse (nested deeper than the JSON parser recurses, say) goes to
    the dead-letter list as it came: raising here would stop every restore after it.
    """
    try:
        envelope, exchange, routing_key = json.loads(stored)
        _mark_redelivered(envelope)
        payload = json.dumps(envelope).encode()
    except (ValueError, TypeError, RecursionError) as exc:
        why = "nested too deeply to decode" if isinstance(exc, RecursionError) else repr(exc)
        reason = f"unreadable message left by a dead consumer: {why}"
        return channel.layout.deadletter, make_record(unacked_item(stored), queue, reason)
    queue = queue or _lookup(channel, exchange, str(routing_key))
    props = envelope.get("properties") if isinstance(envelope, dict) else None
    priority = envelope_priority(props) if isinstance(props, dict) else 0
    return channel.layout.bucket(queue, priority), payload


def _mark_redelivered(envelope: Any) -> None:
    try:
        envelope["headers"]["redelivered"] = True
        envelope["properties"]["delivery_info"]["redelivered"] = True
    except (KeyError, TypeError):
        pass


def _lookup(channel: RedisChannel, exchange: str, routing_key: str) -> str:
    """kombu's ``_lookup``: the routing key on the default exchange, else the binding table."""
    if not exchange:
        return routing_key
    for raw in channel.client.smembers(channel.layout.binding(exchange)):
        rk, _, queue = as_text(raw).split(channel.layout.sep, 2)
        if rk == routing_key or not rk:
            return queue
    return routing_key


def restore_visible(channel: RedisChannel) -> int:
    """kombu's visibility-timeout restore, for entries whose (Celery) owner stopped renewing."""
    client, layout = channel.client, channel.layout
    token = uuid.uuid4().hex
    if not client.set(layout.unacked_mutex_key, token, nx=True, px=MUTEX_EXPIRE_MS):
        return 0
    restored = 0
    try:
        ceiling = time.time() - channel.visibility_timeout
        tags = client.zrangebyscore(layout.unacked_index_key, "-inf", ceiling, 0, SCAN_LIMIT)
        for tag in tags:
            restored += _restore_by_tag(channel, as_bytes(tag))  # type: ignore[arg-type]
    finally:
        channel.scripts.release_mutex(keys=[layout.unacked_mutex_key], args=[token])
    if restored:
        logger.warning(
            "Restored %d message(s) unacked for over %ss", restored, channel.visibility_timeout
        )
    return restored


def _restore_by_tag(channel: RedisChannel, tag: bytes) -> int:
    layout = channel.layout
    with channel.client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(layout.unacked_key)  # type: ignore[no-untyped-call]
            stored = pipe.hget(layout.unacked_key, tag)
            pipe.multi()
            pipe.zrem(layout.unacked_index_key, tag)
            pipe.hdel(layout.unacked_key, tag)
            if stored is not None:
                target, payload = _redelivery(as_bytes(stored), "", channel)
                pipe.rpush(target, payload)
            pipe.execute()
        except redis.WatchError:
            return 0
        except (ValueError, TypeError) as exc:
            logger.error("Cannot restore unacked entry %r: %s", tag, exc)
            return 0
    return 1 if stored is not None else 0


__all__ = ["restore_dead", "restore_own", "restore_unheld", "restore_visible"]
