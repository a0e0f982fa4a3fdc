"""``app.control.inspect()``: read-only questions to workers, answers merged by node name.

As in Celery, each method returns ``{nodename: answer}`` for the nodes that answered within
the timeout, ``None`` when none did, and the bare answer when ``destination`` was one name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from celeriac.control.mailbox import Reply
from celeriac.exceptions import DuplicateNodenameWarning

if TYPE_CHECKING:
    from celeriac.control.control import Control


#: Celery's text (``celery.app.control.W_DUPNODE``), naming our own CLI.
W_DUPNODE: Final = """\
Received multiple replies from node {0}: {1}.
Please make sure you give each node a unique nodename using
the celeriac worker `-n` option.\
"""


def duplicate_node_message(names: Iterable[str]) -> str:
    dupes = sorted(set(names))
    return W_DUPNODE.format("name" if len(dupes) == 1 else "names", ", ".join(dupes))


def flatten_replies(replies: Sequence[Reply]) -> dict[str, Any]:
    """``[{node: answer}, ...]`` as one ``{node: answer}`` mapping.

    Two answers under one name mean two workers share it, and only one answer survives the
    merge: warned with ``DuplicateNodenameWarning``, as Celery's ``flatten_reply`` does.
    """
    merged: dict[str, Any] = {}
    dupes: set[str] = set()
    for reply in replies:
        dupes.update(name for name in reply if name in merged)
        merged.update(reply)
    if dupes:
        warnings.warn(DuplicateNodenameWarning(duplicate_node_message(dupes)), stacklevel=2)
    return merged


class Inspect:
    """Built by ``Control.inspect``; every call is one broadcast with replies."""

    def __init__(self, control: Control, destination: str | Sequence[str] | None = None,
                 timeout: float = 1.0, callback: Callable[[Reply], None] | None = None,
                 limit: int | None = None, pattern: str | None = None,
                 matcher: str | None = None) -> None:
        self.control = control
        self.app = control.app
        self.destination = destination
        self.timeout = timeout
        self.callback = callback
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _request(self, command: str, **arguments: Any) -> Any:
        replies = self.control.broadcast(
            command, arguments, destination=self.destination, reply=True,
            timeout=self.timeout, limit=self.limit, callback=self.callback,
            pattern=self.pattern, matcher=self.matcher,
        )
        if not replies:
            return None
        by_node = flatten_replies(replies)
        if isinstance(self.destination, str):
            return by_node.get(self.destination)
        return by_node

    def ping(self, destination: str | Sequence[str] | None = None) -> Any:
        if destination is not None:
            self.destination = destination
        return self._request("ping")

    def clock(self) -> Any:
        return self._request("clock")

    def stats(self) -> Any:
        return self._request("stats")

    def active(self, safe: bool | None = None) -> Any:
        return self._request("active", safe=safe)

    def reserved(self, safe: bool | None = None) -> Any:
        return self._request("reserved", safe=safe)

    def scheduled(self, safe: bool | None = None) -> Any:
        return self._request("scheduled", safe=safe)

    def registered(self, *taskinfoitems: str) -> Any:
        return self._request("registered", taskinfoitems=list(taskinfoitems))

    registered_tasks = registered

    def revoked(self) -> Any:
        return self._request("revoked")

    def active_queues(self) -> Any:
        return self._request("active_queues")

    def conf(self, with_defaults: bool = False) -> Any:
        return self._request("conf", with_defaults=with_defaults)

    def report(self) -> Any:
        return self._request("report")

    def query_task(self, *ids: str) -> Any:
        flat = [i for item in ids for i in ([item] if isinstance(item, str) else item)]
        return self._request("query_task", ids=flat)

    def hello(self, from_node: str, revoked: dict[str, float] | None = None) -> Any:
        return self._request("hello", from_node=from_node, revoked=revoked)

    def memsample(self) -> Any:
        """The workers' resident memory now (``"31.2MB"``), remembered for ``memdump``."""
        return self._request("memsample")

    def memdump(self, samples: int = 10) -> Any:
        """A report of the ``memsample`` series (at most ``samples`` values) so far."""
        return self._request("memdump", samples=samples)

    def objgraph(self, type: str = "Request", n: int = 200, max_depth: int = 10) -> Any:
        """``{"filename": png}`` graphing objects of ``type``; needs objgraph on the worker."""
        return self._request("objgraph", num=n, max_depth=max_depth, type=type)


__all__ = ["W_DUPNODE", "Inspect", "duplicate_node_message", "flatten_replies"]
