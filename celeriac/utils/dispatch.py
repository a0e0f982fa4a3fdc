"""A small typed signal, Celery-compatible enough for ``signal.connect`` users.

Receivers are called with ``sender=`` and keyword arguments; ``has_receivers`` lets the hot
path skip building arguments when nobody listens.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]


class Signal:
    """A named hook. ``connect`` works as a plain call or as a decorator (with options)."""

    def __init__(self, name: str, providing_args: Any = None) -> None:
        self.name = name
        self._receivers: list[tuple[Any, Any, bool]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"

    def connect(self, receiver: Receiver | None = None, *, sender: Any = None,
                weak: bool = True, dispatch_uid: Any = None) -> Any:
        if receiver is None:
            def decorate(fun: Receiver) -> Receiver:
                self.connect(fun, sender=sender, weak=weak, dispatch_uid=dispatch_uid)
                return fun

            return decorate
        ref: Any = receiver
        if weak:
            try:
                ref = weakref.WeakMethod(receiver) if hasattr(receiver, "__self__") \
                    else weakref.ref(receiver)
            except TypeError:
                weak = False
        with self._lock:
            self._receivers.append((ref, sender, weak))
        return receiver

    def disconnect(self, receiver: Receiver, sender: Any = None) -> bool:
        with self._lock:
            for index, (ref, _sender, weak) in enumerate(self._receivers):
                if (ref() if weak else ref) == receiver:
                    del self._receivers[index]
                    return True
        return False

    @property
    def has_receivers(self) -> bool:
        return bool(self._receivers)

    def _live(self, sender: Any) -> list[Receiver]:
        """Receivers for ``sender``: objects match by identity, strings by value.

        Celery's publish signals and ``celeryd_init`` send a task name or a node name, and
        ``connect(sender="proj.tasks.add")`` must match a name built at run time, as in
        Celery (whose dispatcher keys strings by value).
        """
        live: list[Receiver] = []
        for ref, wanted, weak in list(self._receivers):
            fun = ref() if weak else ref
            if fun is not None and (wanted is None or wanted is sender or (
                    isinstance(wanted, str) and wanted == sender)):
                live.append(fun)
        return live

    def send(self, sender: Any = None, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver; a raising receiver is logged and the others still run."""
        if not self._receivers:
            return []
        responses: list[tuple[Receiver, Any]] = []
        for receiver in self._live(sender):
            try:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except Exception as exc:
                logger.exception("Signal handler %r raised: %r", receiver, exc)
                responses.append((receiver, exc))
        return responses

    send_robust = send
