"""Celery's events (the ``celeryev`` exchange): task and worker events for monitors.

A layer beside ``control`` and ``backends``: it speaks through a transport's
``FanoutChannel`` and knows no worker, app or command line. Sending: ``EventDispatcher``
(``dispatcher.py``) and the event dicts (``event.py``). Receiving: ``EventReceiver``
(``receiver.py``), the cluster ``State`` it can feed (``state.py``) and the ``Polaroid``
cameras that take pictures of it (``snapshot.py``).
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.event import group_of as group_from
from celeriac.events.receiver import EventReceiver
from celeriac.events.snapshot import Polaroid
from celeriac.events.state import State


def Event(type: str, _fields: Mapping[str, Any] | None = None,
          __dict__: Callable[..., dict[str, Any]] = dict,
          __now__: Callable[[], float] = time.time, **fields: Any) -> dict[str, Any]:
    """Celery's ``Event``: an event is a dict with a ``type``; ``timestamp`` is set to now
    unless given."""
    event = __dict__(_fields, **fields) if _fields else fields
    if "timestamp" not in event:
        event.update(timestamp=__now__(), type=type)
    else:
        event["type"] = type
    return event


__all__ = ["Event", "EventDispatcher", "EventReceiver", "Polaroid", "State", "group_from"]
