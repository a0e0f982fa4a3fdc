"""Revocation by stamp: the worker refuses every task carrying a stamp value it was told of.

``app.control.revoke_by_stamped_headers({"mystamp": ["v1", "v2"]})`` reaches the workers as the
``revoke_by_stamped_headers`` command; from then on a task whose message headers say
``stamped_headers: ["mystamp"]`` and ``stamps: {"mystamp": "v1"}`` (or a list holding ``v1``) is
discarded and recorded REVOKED, as Celery's ``Request.revoked`` does it (same matching rule).

Like Celery's ``worker_state.revoked_stamps`` these live in the worker's memory only: they
neither expire nor go to the durable revocation store or the ``--statedb`` file, so a worker
started after the broadcast does not know them (unlike revocations by id, see
``control/revocations.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Container, Mapping
from typing import Any


def _as_list(value: Any) -> list[Any]:
    """Celery's ``maybe_list``: lists and tuples as they are, anything else in a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class RevokedStamps:
    """``{stamp name: [revoked values]}``; thread-safe (control thread adds, consumer reads)."""

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def add(self, headers: Mapping[str, Any]) -> None:
        """Revoke every value of every stamp in ``headers`` (added to those already revoked)."""
        with self._lock:
            for name, values in headers.items():
                self._values[name] = [*self._values.get(name, []), *_as_list(values)]

    def as_dict(self) -> dict[str, list[Any]]:
        with self._lock:
            return {name: list(values) for name, values in self._values.items()}

    def __bool__(self) -> bool:
        return bool(self._values)

    def match(self, headers: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``{stamp: value}`` of the message ``headers`` that is revoked, else ``None``."""
        if not self._values:
            return None
        names = headers.get("stamped_headers") or []
        stamps = headers.get("stamps") or {}
        if not isinstance(stamps, Mapping):
            return None
        for name in _as_list(names):
            revoked = self._values.get(name)
            value = stamps.get(name)
            if revoked is None or value is None:
                continue
            for candidate in _as_list(value):
                if _contains(revoked, candidate):
                    return {name: candidate}
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
            common = set(_as_list(actual)) & set(_as_list(wanted))
        except TypeError:
            continue
        if common:
            found[name] = common
    return found


def revoked_by_stamp(revoked: Container[str], headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The revoking stamp when ``revoked`` (a worker's ``RevokedRegistry``) holds stamps."""
    stamps = getattr(revoked, "stamps", None)
    if isinstance(stamps, RevokedStamps):
        return stamps.match(headers)
    return None


def parse_headers(raw: Any) -> dict[str, Any]:
    """The ``headers`` argument: a dict, or the shell's ``["key=value", ...]`` (Celery)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        raw = [raw]
    out: dict[str, Any] = {}
    for item in raw or ():
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


__all__ = ["RevokedStamps", "matching_stamps", "parse_headers", "revoked_by_stamp"]
