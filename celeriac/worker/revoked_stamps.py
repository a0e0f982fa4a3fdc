"""Revocation by stamp: the worker refuses every task carrying a stamp value it was told of.

``app.control.revoke_by_stamped_headers({"mystamp": ["v1", "v2"]})`` reaches the workers as the
``revoke_by_stamped_headers`` command; from then on a task whose message headers say
``stamped_headers: ["mystamp"]`` and ``stamps: {"mystamp": "v1"}`` (or a list holding ``v1``) is
discarded and recorded REVOKED, as Celery's ``Request.revoked`` does it (same matching rule).

Like Celery's ``worker_state.revoked_stamps``, what a worker hears in the broadcast stays in
its memory for good (``RevokedStamps``). Beyond Celery, revocations by stamp also last the way
celeriac's revocations by id do: ``Control.revoke_by_stamped_headers`` writes each
``(stamp, value)`` to the durable revocation store and the command adds it to the worker's
``RevokedRegistry`` (hence ``--statedb``), as a pseudo task id ``celeriac.stamp:["name",
value]`` (``stamp_entries``) that no real task id (a UUID) can equal. A worker started after
the broadcast loads them like revoked ids, for the same ``expires`` window (3 hours by
default); ``inspect revoked`` leaves them out.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterator, Mapping
from typing import Any

from celeriac.control.revocations import stamp_entry
from celeriac.utils.functional import as_list


class RevokedStamps:
    """``{stamp name: [revoked values]}``; thread-safe (control thread adds, consumer reads)."""

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def add(self, headers: Mapping[str, Any]) -> None:
        """Revoke every value of every stamp in ``headers`` (added to those already revoked)."""
        with self._lock:
            for name, values in headers.items():
                self._values[name] = [*self._values.get(name, []), *as_list(values)]

    def as_dict(self) -> dict[str, list[Any]]:
        with self._lock:
            return {name: list(values) for name, values in self._values.items()}

    def __bool__(self) -> bool:
        return bool(self._values)

    def match(self, headers: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``{stamp: value}`` of the message ``headers`` that is revoked, else ``None``."""
        if not self._values:
            return None
        for name, value in _message_stamps(headers):
            revoked = self._values.get(name)
            if revoked is not None and _contains(revoked, value):
                return {name: value}
        return None


def _contains(values: list[Any], candidate: Any) -> bool:
    try:
        return candidate in values
    except TypeError:  # an unhashable/odd stamp value compared with others: no match
        return False


def matching_stamps(headers: Mapping[str, Any], revoke: Mapping[str, Any]) -> dict[str, set[Any]]:
    """For ``terminate``: ``{stamp: values}`` of the message ``headers`` found in ``revoke``.

    Celery's ``revoke_by_stamped_headers`` rule: a running task is hit when one of its stamp
    values (single or in a list) is among the values given for that stamp.
    """
    stamps = headers.get("stamps") or {}
    found: dict[str, set[Any]] = {}
    if not isinstance(stamps, Mapping):
        return found
    for name, wanted in revoke.items():
        actual = stamps.get(name)
        if actual is None:
            continue
        try:
            common = set(as_list(actual)) & set(as_list(wanted))
        except TypeError:
            continue
        if common:
            found[name] = common
    return found


def _message_stamps(headers: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    names = headers.get("stamped_headers") or []
    stamps = headers.get("stamps") or {}
    if isinstance(stamps, Mapping):
        for name in as_list(names):
            for value in as_list(stamps.get(name)):
                yield str(name), value


def revoked_by_stamp(revoked: Container[str], headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The revoking ``{stamp: value}`` of a message, from what ``revoked`` (a worker's
    ``RevokedRegistry``) heard in broadcasts or holds as durable entries; else ``None``."""
    if not headers.get("stamped_headers"):
        return None
    stamps = getattr(revoked, "stamps", None)
    if isinstance(stamps, RevokedStamps) and (found := stamps.match(headers)) is not None:
        return found
    if getattr(revoked, "has_stamp_entries", False):
        for name, value in _message_stamps(headers):
            if stamp_entry(name, value) in revoked:
                return {name: value}
    return None


__all__ = ["RevokedStamps", "matching_stamps", "revoked_by_stamp"]
