"""Store-if-not-final: a result store writes a record only where it replaces no final state.

One rule (``may_replace``), applied the same way by every store that declares
``Capability.STORE_IF_NOT_FINAL``: the key-value stores through ``StoreIfNotFinal`` (memory
under its lock, SQLite in one transaction, Redis's fallback path), Redis's Lua script as its
server-side twin, ``rpc://`` on each reply it receives. The contract suite holds them to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from celeriac import states
from celeriac.backends.record_codec import RecordCodec
from celeriac.protocol.result_meta import ResultMeta

#: How every JSON record Celery or celeriac writes begins (status first, Python's separators).
_STATUS_HEAD = b'{"status": "'


def stored_status(raw: bytes | None) -> str | None:
    """The ``status`` of a stored record, decided on the parsed value, not on a substring.

    The status is read straight from the record's start when it has the usual layout and the
    value holds no escape (exact: a JSON string ends at its first unescaped quote), so a
    large result is not decoded; anything else is parsed in full. A record whose *result*
    merely contains the text "SUCCESS" is never mistaken for a success.
    """
    if raw is None:
        return None
    start = len(_STATUS_HEAD)
    if raw.startswith(_STATUS_HEAD):
        end = raw.find(b'"', start)
        if end >= 0 and b"\\" not in raw[start:end]:
            return raw[start:end].decode("utf-8", "replace")
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    status = record.get("status") if isinstance(record, dict) else None
    return status if isinstance(status, str) else None


def may_replace(old_status: str | None, new_status: str) -> bool:
    """Whether a record in ``new_status`` may replace a stored one in ``old_status``.

    A SUCCESS is never replaced (wire-protocol.md §7.15). A RETRY never replaces a finished
    state (SUCCESS, FAILURE, REVOKED): a RETRY says "a newer attempt was sent", so a finished
    record can only be that newer attempt's (or a revocation's). The two race: with
    ``retry(countdown=0)`` the new attempt can run and be stored before the old attempt's
    RETRY, which would then hide the outcome and leave the caller waiting forever.
    """
    if old_status == states.SUCCESS:
        return False
    return not (new_status == states.RETRY and old_status in states.READY_STATES)


def is_success(raw: bytes | None) -> bool:
    """Whether a stored record is a SUCCESS, which nothing may overwrite (§7.15)."""
    return stored_status(raw) == states.SUCCESS


class StoreIfNotFinal:
    """``may_replace`` applied to a batch, for a store holding records encoded by ``codec``."""

    def __init__(self, codec: RecordCodec) -> None:
        self.codec = codec

    def replacing(self, keys: Sequence[str], metas: Sequence[ResultMeta],
                  existing: Mapping[str, bytes | None]) -> list[tuple[str, bytes]]:
        """The encoded records of ``metas`` that ``may_replace`` the ``existing`` ones.

        Judged in order, a record written earlier in the same batch counting as stored: one
        batch can hold two attempts of a retried task (the new attempt's SUCCESS, then the old
        attempt's RETRY), and judging both against the record from before the batch let the
        RETRY land last, so the task looked unfinished forever.
        """
        written: dict[str, str | None] = {}
        items: list[tuple[str, bytes]] = []
        for key, meta in zip(keys, metas, strict=True):
            old = written[key] if key in written else self.status_of(existing.get(key))
            if old is None or may_replace(old, meta.status):
                items.append((key, self.codec.dumps(meta.to_dict())))
                written[key] = meta.status
            else:
                written[key] = old
        return items

    def status_of(self, raw: bytes | None) -> str | None:
        """The status of a stored record, whichever serializer wrote it (None: none, or
        unreadable)."""
        if raw is None:
            return None
        if raw[:1] == b"{":
            return stored_status(raw)
        try:
            status = self.codec.loads(raw).get("status")
        except Exception:  # undecodable or not a mapping: no state we must keep
            return None
        return status if isinstance(status, str) else None


__all__ = ["StoreIfNotFinal", "is_success", "may_replace", "stored_status"]
