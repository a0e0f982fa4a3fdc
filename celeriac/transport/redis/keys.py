"""Every Redis key celeriac touches, in kombu's layout plus celeriac's own (wire-protocol.md §2.1).

kombu's keys (shared with Celery workers and clients; do not change their shape):

=====================================  ======  ==============================================
``<queue>``                            list    priority bucket 0 (LPUSH in, RPOP out)
``<queue><sep><p>`` p in steps[1:]     list    priority buckets 3, 6, 9
``_kombu.binding.<exchange>``          set     ``routing_key<sep>pattern<sep>queue``
``_kombu.binding_permanent.<exch>``    set     same members (kombu 5.7+)
``unacked``                            hash    delivery_tag -> JSON ``[envelope, exchange, rk]``
``unacked_index``                      zset    delivery_tag, score = delivery time (epoch s)
``unacked_mutex``                      string  guard of the visibility-timeout restore scan
=====================================  ======  ==============================================

celeriac's own keys (a Celery peer never reads them, so they are free to be shaped for speed):

=================================  ======  ===================================================
``celeriac.delayed.<queue>``       zset    messages invisible until their score (epoch s);
                                           counted by ``size`` and removed by ``purge``.
                                           member = ``<envelope>\\n<bucket key>``: the envelope
                                           JSON never holds a raw newline, so the first
                                           ``\\n`` splits it from the (prefixed) list it goes to
``celeriac.consumers``             set     ids of celeriac consumers that may hold leases
``celeriac.consumer.<id>``         string  liveness, ``PX lease_timeout``, renewed by heartbeat
``celeriac.leases.<id>``           hash    delivery_tag -> queue name of every message the
                                           consumer holds; ``\\x00bad:...`` fields hold raw
                                           items that failed to parse (value ``key\\nraw``)
``celeriac.inflight.<id>``         list    landing list of the blocking wait (BLMOVE target)
``celeriac.deadletter``            list    JSON records of set-aside messages, oldest first
=================================  ======  ===================================================

``global_keyprefix`` is prepended to all of them, as kombu does (§2.1).
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from celeriac.config.transport_keys import (
    DEFAULT_PRIORITY_STEPS,
    DEFAULT_SEP,
    RedisTransportOptions,
)

BAD_FIELD_PREFIX = "\x00bad:"


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Key names for one broker namespace; built once per transport from its options."""

    prefix: str = ""
    sep: str = DEFAULT_SEP
    priority_steps: tuple[int, ...] = DEFAULT_PRIORITY_STEPS
    unacked: str = "unacked"
    unacked_index: str = "unacked_index"
    unacked_mutex: str = "unacked_mutex"
    _bucket_cache: dict[tuple[str, int], str] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_options(cls, options: RedisTransportOptions) -> KeyLayout:
        """Read ``global_keyprefix``, ``sep``, ``priority_steps`` and the unacked key names."""
        return cls(
            prefix=options.global_keyprefix,
            sep=options.sep,
            priority_steps=options.priority_steps,
            unacked=options.unacked_key,
            unacked_index=options.unacked_index_key,
            unacked_mutex=options.unacked_mutex_key,
        )

    # -- kombu's keys ---------------------------------------------------------------------
    def step_for(self, priority: int) -> int:
        """The bucket step of ``priority`` (clamped 0..9): the largest step <= it."""
        clamped = 0 if priority < 0 else 9 if priority > 9 else priority
        return self.priority_steps[bisect(self.priority_steps, clamped) - 1]

    def bucket(self, queue: str, priority: int = 0) -> str:
        """The (prefixed) list key that holds ``queue``'s messages of ``priority``."""
        cache_key = (queue, priority)
        key = self._bucket_cache.get(cache_key)
        if key is None:
            step = self.step_for(priority)
            key = f"{self.prefix}{queue}{self.sep}{step}" if step else f"{self.prefix}{queue}"
            if len(self._bucket_cache) < 10_000:
                self._bucket_cache[cache_key] = key
        return key

    def buckets(self, queue: str) -> list[str]:
        """All of ``queue``'s list keys, most urgent first (Redis: lower number first)."""
        return [self.bucket(queue, step) for step in self.priority_steps]

    def binding(self, exchange: str) -> str:
        return f"{self.prefix}_kombu.binding.{exchange}"

    def binding_permanent(self, exchange: str) -> str:
        return f"{self.prefix}_kombu.binding_permanent.{exchange}"

    def binding_member(self, routing_key: str, pattern: str, queue: str) -> str:
        return self.sep.join((routing_key, pattern, queue))

    @property
    def unacked_key(self) -> str:
        return self.prefix + self.unacked

    @property
    def unacked_index_key(self) -> str:
        return self.prefix + self.unacked_index

    @property
    def unacked_mutex_key(self) -> str:
        return self.prefix + self.unacked_mutex

    # -- celeriac's keys ------------------------------------------------------------------
    def delayed(self, queue: str) -> str:
        return f"{self.prefix}celeriac.delayed.{queue}"

    @property
    def consumers(self) -> str:
        return self.prefix + "celeriac.consumers"

    def liveness(self, consumer_id: str) -> str:
        return f"{self.prefix}celeriac.consumer.{consumer_id}"

    def leases(self, consumer_id: str) -> str:
        return f"{self.prefix}celeriac.leases.{consumer_id}"

    def inflight(self, consumer_id: str) -> str:
        return f"{self.prefix}celeriac.inflight.{consumer_id}"

    @property
    def deadletter(self) -> str:
        return self.prefix + "celeriac.deadletter"

    def delayed_member(self, envelope: bytes, queue: str, priority: int) -> bytes:
        """The delayed-zset member: envelope, newline, the bucket it moves to when due."""
        return envelope + b"\n" + self.bucket(queue, priority).encode()


def queue_of_bucket(key: str, layout: KeyLayout) -> str:
    """The queue name of a (prefixed) bucket key; the inverse of ``KeyLayout.bucket``."""
    name = key[len(layout.prefix) :] if layout.prefix and key.startswith(layout.prefix) else key
    head, sep, tail = name.rpartition(layout.sep)
    if sep and tail.isdigit():
        return head
    return name


def ordered_queues(queues: Sequence[str], strategy: str, turn: int) -> list[str]:
    """The order to serve ``queues`` in for this fetch.

    ``round_robin`` (kombu's default) rotates the start every call so no queue starves;
    ``priority`` keeps the given order (the first queue always wins); ``sorted`` serves names
    alphabetically.
    """
    if strategy == "sorted":
        return sorted(queues)
    if strategy == "priority" or len(queues) < 2:
        return list(queues)
    start = turn % len(queues)
    return [*queues[start:], *queues[:start]]


__all__ = [
    "BAD_FIELD_PREFIX",
    "DEFAULT_PRIORITY_STEPS",
    "DEFAULT_SEP",
    "KeyLayout",
    "as_bytes",
    "as_text",
    "ordered_queues",
    "queue_of_bucket",
]


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (clients are built without ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: bytes | str) -> bytes:
    """A Redis reply as bytes, whatever the client's ``decode_responses``."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
