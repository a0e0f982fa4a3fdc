"""Stamping: custom headers written on every task of a canvas, as Celery 5.3+ does.

``sig.stamp(visitor=None, append_stamps=False, **headers)`` stores each stamp as a plain
signature option (``options[name] = value``) and lists the names in
``options["stamped_headers"]``. When the signature is sent, those options become the message's
``stamped_headers`` and ``stamps`` headers (``app.send``), exactly where Celery puts them, so a
Celery worker sees celeriac's stamps and the other way round; the worker refuses a task whose
stamp matches one given to ``revoke_by_stamped_headers``.

Because stamps are options, they travel wherever a signature's options travel: into the
``callbacks``/``errbacks``/``chain``/``chord`` embeds, hence to every later step of a chain or
a chord body published by a worker, and into a retry (the request's ``stamps``). Options named
in ``stamped_headers`` cannot be overridden by ``clone``/``apply_async`` options (Celery's
``_IMMUTABLE_OPTIONS``): a stamp is the tag of the canvas, not of one send.

The merge rules (``merge_dictionaries``, ``stamp_headers``) are Celery's own, including its
quirks (a visitor's value wins over a keyword stamp unless ``append_stamps``; a chord body is
stamped only through a visitor), so one stamping call gives the same options on both sides.
"""

from __future__ import annotations

import copy
from abc import ABCMeta, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.canvas.signature import Signature

#: options a later ``clone``/``apply_async`` must not override (Celery's ``_IMMUTABLE_OPTIONS``:
#: changing a group id would stall the group's completion; stamps are set once).
IMMUTABLE_OPTIONS: frozenset[str] = frozenset({"group_id", "stamped_headers"})


def immutable_options(options: dict[str, Any]) -> frozenset[str]:
    """The option names of ``options`` that merged options may not replace."""
    return IMMUTABLE_OPTIONS.union(options.get("stamped_headers") or ())


class StampingVisitor(metaclass=ABCMeta):
    """Decides the stamps of each part of a canvas; ``on_signature`` is required.

    Every ``on_*_start``/``on_signature``/``on_callback``/``on_errback``/``on_chord_body``
    returns the headers to add at that point (``{}`` for none); ``on_*_end`` returns nothing.
    """

    def on_group_start(self, group: Any, **headers: Any) -> dict[str, Any]:
        return {}

    def on_group_end(self, group: Any, **headers: Any) -> None:
        return None

    def on_chain_start(self, chain: Any, **headers: Any) -> dict[str, Any]:
        return {}

    def on_chain_end(self, chain: Any, **headers: Any) -> None:
        return None

    @abstractmethod
    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        """The stamps of one task signature."""

    def on_chord_header_start(self, sig: Any, **header: Any) -> dict[str, Any]:
        """By default the header is visited as a group (Celery's default)."""
        return self.on_group_start(_header_group(sig), **header)

    def on_chord_header_end(self, sig: Any, **header: Any) -> None:
        self.on_group_end(_header_group(sig), **header)

    def on_chord_body(self, sig: Any, **header: Any) -> dict[str, Any]:
        return {}

    def on_callback(self, callback: Any, **header: Any) -> dict[str, Any]:
        return {}

    def on_errback(self, errback: Any, **header: Any) -> dict[str, Any]:
        return {}


def _header_group(sig: Any) -> Any:
    """A chord's header as a ``group`` over the same member objects (stamps stick)."""
    from celeriac.canvas.group import group

    tasks = sig.tasks
    return tasks if isinstance(tasks, group) else group(tasks, app=sig._app)


def merge_dictionaries(d1: dict[str, Any], d2: dict[str, Any] | None,
                       aggregate_duplicates: bool = True) -> None:
    """Merge ``d2`` into ``d1`` recursively, Celery's ``_merge_dictionaries`` rule for rule.

    A key in both: dicts merge, two lists concatenate; otherwise with ``aggregate_duplicates``
    the values are collected in a list, without it ``d1`` keeps a scalar of its own.
    """
    if not d2:
        return
    for key, value in d1.items():
        if key not in d2:
            continue
        if isinstance(value, dict):
            merge_dictionaries(d1[key], d2[key], aggregate_duplicates)
            continue
        if isinstance(value, int | float | str):
            d1[key] = [value] if aggregate_duplicates else value
        if isinstance(d2[key], list) and isinstance(d1[key], list):
            d1[key].extend(d2[key])
        elif aggregate_duplicates:
            d1[key] = [] if d1[key] is None else list(d1[key])
            d1[key].append(d2[key])
    for key, value in d2.items():
        if key not in d1:
            d1[key] = value


def stamp_headers(sig: Signature, visitor_headers: dict[str, Any] | None = None,
                  append_stamps: bool = False, self_headers: bool = True,
                  **headers: Any) -> dict[str, Any]:
    """The stamps for ``sig``: keyword ``headers``, then the visitor's, then ``sig``'s own."""
    headers = headers.copy()
    if "stamped_headers" not in headers:
        headers["stamped_headers"] = list(headers.keys())
    if visitor_headers is not None:
        visitor_headers = visitor_headers or {}
        if "stamped_headers" not in visitor_headers:
            visitor_headers["stamped_headers"] = list(visitor_headers.keys())
        merge_dictionaries(headers, visitor_headers, aggregate_duplicates=append_stamps)
        headers["stamped_headers"] = _unique(headers["stamped_headers"])
    if self_headers:
        names = _unique([*headers.get("stamped_headers", []),
                         *(sig.options.get("stamped_headers") or [])])
        headers["stamped_headers"] = names
        own = {k: v for k, v in sig.options.items() if k in names}
        merge_dictionaries(headers, own, aggregate_duplicates=append_stamps)
        headers["stamped_headers"] = _unique(headers["stamped_headers"])
    return headers


def _unique(names: Any) -> list[str]:
    """Celery dedups with ``list(set(...))``; keep first-seen order (same set, stable)."""
    return list(dict.fromkeys(names))


def stamp_links(sig: Signature, visitor: StampingVisitor | None, append_stamps: bool = False,
                **headers: Any) -> None:
    """Stamp ``sig``'s callbacks and errbacks with ``headers`` and the visitor's, not with
    ``sig``'s own stamps (a link is a separate task)."""
    from celeriac.canvas.signature import maybe_signature

    for key, hook in (("link", "on_callback"), ("link_error", "on_errback")):
        current = copy.deepcopy(headers)
        links = sig.options.get(key)
        for link in links if isinstance(links, list | tuple) else [links] if links else []:
            link = maybe_signature(link, app=sig._app)
            visitor_headers = (getattr(visitor, hook)(link, **current) or {}
                               if visitor is not None else None)
            current = stamp_headers(link, visitor_headers, append_stamps, self_headers=False,
                                    **current)
            link.stamp(visitor, append_stamps, **current)


def stamp_signature(sig: Signature, visitor: StampingVisitor | None, append_stamps: bool,
                    **headers: Any) -> Signature:
    """``Signature.stamp`` for one task: links first, then the stamps become options."""
    stamp_links(sig, visitor, append_stamps, **headers)
    headers = headers.copy()
    visitor_headers = None
    if visitor is not None:
        visitor_headers = visitor.on_signature(sig, **headers) or {}
    merged = stamp_headers(sig, visitor_headers, append_stamps, **headers)
    return sig.set(**merged)


def stamp_members(sig: Signature, members: list[Any], visitor: StampingVisitor | None,
                  append_stamps: bool, start: str, end: str, **headers: Any) -> None:
    """``stamp`` of a chain or group: ``start`` hook, links, every member, ``end`` hook."""
    from celeriac.canvas.signature import maybe_signature

    visitor_headers = getattr(visitor, start)(sig, **headers) or {} if visitor else None
    headers = stamp_headers(sig, visitor_headers, append_stamps, **headers)
    # Celery's chain.stamp passes no ``append_stamps`` to its links; group's does.
    stamp_links(sig, visitor, append_stamps if start == "on_group_start" else False, **headers)
    for index, task in enumerate(members):
        member = maybe_signature(task, app=sig._app)
        member.stamp(visitor, append_stamps, **headers)
        members[index] = member
    if visitor is not None:
        getattr(visitor, end)(sig, **headers)


def stamp_chord(sig: Any, visitor: StampingVisitor | None, append_stamps: bool,
                **headers: Any) -> None:
    """``chord.stamp``: header members as a group; the body only through a visitor (Celery)."""
    from celeriac.canvas.signature import maybe_signature

    visitor_headers = visitor.on_chord_header_start(sig, **headers) or {} if visitor else None
    headers = stamp_headers(sig, visitor_headers, append_stamps, **headers)
    stamp_links(sig, visitor, append_stamps, **headers)
    members = sig.tasks
    for index, task in enumerate(members):
        member = maybe_signature(task, app=sig._app)
        member.stamp(visitor, append_stamps, **headers.copy())
        members[index] = member
    if visitor is not None:
        visitor.on_chord_header_end(sig, **headers)
    if visitor is not None and sig.body is not None:
        visitor_headers = visitor.on_chord_body(sig, **headers) or {}
        headers = stamp_headers(sig, visitor_headers, append_stamps, **headers)
        sig.body.stamp(visitor, append_stamps, **headers)


__all__ = ["StampingVisitor", "immutable_options", "merge_dictionaries", "stamp_chord",
           "stamp_headers", "stamp_links", "stamp_members", "stamp_signature"]
